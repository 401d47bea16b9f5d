"""makemessages that also collects the portal's short aliases: event and catalogue texts are
marked with `N_` (gettext_noop) and translated when displayed, some labels use `_lazy`, and
forms call gettext `_t` beside their lazy `_`."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=N_", "--keyword=_lazy", "--keyword=_t"]
