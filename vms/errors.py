"""The portal's domain errors, in one place: what a service refuses, with a message for the user
where one reaches them. Errors of the outside systems stay with their gateway
(vms.cluster.gateway.ClusterError, monitoring.prometheus.PrometheusError), since those say
whether a retry can help."""

from django.utils.translation import gettext


class InvalidTransition(Exception):
    """The VM was not in a state the move may start from (someone else moved it first)."""

    def __init__(self, vm_id, to_state, current_state):
        self.vm_id, self.to_state, self.current_state = vm_id, to_state, current_state
        super().__init__(f"VM {vm_id} cannot move to {to_state} from {current_state}")


class QuotaExceeded(Exception):
    """The team would hold more GPUs of the model than its quota allows."""

    def __init__(self, *, team, gpu_model, used: int, requested: int, limit: int):
        self.team, self.gpu_model, self.used, self.requested, self.limit = team, gpu_model, used, requested, limit
        super().__init__(
            gettext(
                "Team %(team)s may hold %(limit)d× %(model)s; it holds or has asked for %(used)d, "
                "and this needs %(requested)d more."
            )
            % {"team": team.name, "limit": limit, "model": gpu_model.slug, "used": used, "requested": requested}
        )


class NameTaken(Exception):
    def __init__(self, *, team, name):
        super().__init__(
            gettext("Team %(team)s already has a VM named “%(name)s”.") % {"team": team.name, "name": name}
        )


class OwnRequest(Exception):
    """Separation of duties: nobody decides a request or a lease extension of their own, not even
    an approver or a superuser; another approver must."""

    def __init__(self, vm):
        super().__init__(
            gettext("You asked for %(name)s yourself: another approver must decide it.") % {"name": vm.name}
        )


class LeaseOver(Exception):
    def __init__(self, vm):
        super().__init__(
            gettext("The requested lease of %(name)s is already over: reject it, and the requester can ask again.")
            % {"name": vm.name}
        )


class ChangeAlreadyPending(Exception):
    def __init__(self, *, vm):
        super().__init__(gettext("A lease extension of %(vm)s already waits for approval.") % {"vm": vm.name})


class LeaseEnded(Exception):
    """The VM's lease is over: it may not take GPUs again until an extension is granted."""

    def __init__(self, vm):
        super().__init__(
            gettext("The lease of %(name)s has ended: ask for an extension before starting it.") % {"name": vm.name}
        )


class ResizeRefused(ValueError):
    """The requested instance type cannot replace the VM's (the message says why)."""
