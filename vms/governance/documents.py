"""A spec document (the YAML of `manage.py vm_manifest`, the JSON body of `POST /api/v1/vms/`)
checked with every rule the request form applies: its shape, the spec rules, the team, the name
still free in it, and the lease. Errors are keyed by the value's path in the document."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import yaml
from django.utils.translation import gettext as _

from vms.catalogue.loading import catalogue_of, catalogue_rows, spec_defaults
from vms.catalogue.offer import Catalogue
from vms.errors import NameTaken
from vms.governance.selectors import vm_name_taken
from vms.models import GpuModel, InstanceType, Preset, Team
from vms.spec.document import DOCUMENT_PATH_BY_FIELD, parse_spec_document
from vms.spec.lease import lease_end_problem
from vms.spec.request import VmSpec, add_error
from vms.spec.validation import validate_spec


@dataclass
class DocumentCheck:
    spec: VmSpec | None
    catalogue: Catalogue
    team: Team | None = None
    gpu_model: GpuModel | None = None
    instance_type: InstanceType | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.spec is not None and not self.errors


def preset_document(preset: Preset) -> dict:
    """The document a preset stands for; a document's own keys override it."""
    document = {
        "instance_type": preset.instance_type.name,
        "gpu_model": preset.gpu_model.slug,
        "system_disk": {"size": f"{preset.system_disk_gib}Gi", "storage_class": preset.system_disk_class},
        "disks": [
            {"name": disk["name"], "size": f"{disk['size_gib']}Gi", "storage_class": disk["storage_class"]}
            for disk in preset.disks
        ],
        "public_ports": list(preset.public_ports),
        "software": list(preset.software),
    }
    if preset.suggested_name:
        document["name"] = preset.suggested_name
    if preset.cloud_config:
        # The spec carries cloud-config as YAML text, as the request form does.
        document["cloud_config"] = yaml.safe_dump(preset.cloud_config, sort_keys=False)
    return document


def spec_document_check(
    document: object,
    *,
    teams: Sequence[Team],
    api_shape: str,
    lease_ends_at: datetime | None = None,
    check_lease: bool = False,
) -> DocumentCheck:
    """Checks `document` for a request by someone who may ask for the teams in `teams`."""
    rows = catalogue_rows()
    catalogue = catalogue_of(rows)
    spec, errors = parse_spec_document(document, defaults=spec_defaults())
    check = DocumentCheck(spec=spec, catalogue=catalogue, errors=errors)
    if spec is None:
        return check
    result = validate_spec(spec, catalogue=catalogue, api_shape=api_shape)
    check.warnings = list(result.warnings)
    for key, messages in result.errors.items():
        for message in messages:
            add_error(check.errors, DOCUMENT_PATH_BY_FIELD.get(key, key), message)
    # Among the teams already read: the name typed never reaches the database.
    check.team = next((team for team in teams if team.name == spec.team), None)
    if check.team is None:
        add_error(check.errors, "team", _("No team named “%(team)s”.") % {"team": spec.team})
    elif "name" not in check.errors and vm_name_taken(team=check.team, name=spec.name):
        add_error(check.errors, "name", str(NameTaken(team=check.team, name=spec.name)))
    check.gpu_model = next((row for row in rows.gpu_models if row.slug == spec.gpu_model and row.active), None)
    check.instance_type = next(
        (row for row in rows.instance_types if row.name == spec.instance_type and row.active), None
    )
    if check_lease and check.gpu_model is not None:
        problem = lease_end_problem(
            lease_ends_at, gpu_model_slug=check.gpu_model.slug, needs_approval=check.gpu_model.needs_approval
        )
        if problem:
            add_error(check.errors, "lease_ends_at", problem)
    return check
