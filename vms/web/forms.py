import re

import yaml
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _

from vms.catalogue import seed
from vms.catalogue.loading import catalogue_of
from vms.errors import NameTaken
from vms.governance import selectors
from vms.models import GpuModel, Image, InstanceType, Preset, StorageClass, Team, VirtualMachine
from vms.spec.lease import extension_justification_problem, lease_end_problem, lease_extension_problem
from vms.spec.request import API_SHAPE_LEGACY, MAX_LEGACY_VM_NAME_LENGTH, MAX_VM_NAME_LENGTH, DiskSpec, VmSpec
from vms.spec.validation import validate_spec
from vms.web.widgets import QuickSelect


class RowChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField over rows already loaded (the cached catalogue, the user's teams):
    listing its choices and reading the one chosen ask the database nothing."""

    widget = QuickSelect

    def use_rows(self, rows) -> None:
        self.rows = {str(self.prepare_value(row)): row for row in rows}
        empty = [] if self.empty_label is None else [("", self.empty_label)]
        self.choices = empty + [(key, self.label_from_instance(row)) for key, row in self.rows.items()]

    def row(self, value):
        """The row a raw value names, or None."""
        return self.rows.get(str(self.prepare_value(value)))

    def to_python(self, value):
        if value in self.empty_values:
            return None
        row = self.row(value)
        if row is None:
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value})
        return row


class VmFilterForm(forms.Form):
    team = RowChoiceField(queryset=Team.objects.none(), required=False, label=_("Team"), empty_label=_("All teams"))
    state = forms.ChoiceField(
        required=False,
        label=_("State"),
        choices=[("", _("Active")), *VirtualMachine.State.choices],
        widget=QuickSelect,
    )
    gpu_model = RowChoiceField(
        queryset=GpuModel.objects.none(), required=False, label=_("GPU model"), empty_label=_("All models")
    )
    mine = forms.BooleanField(required=False, label=_("Only mine"))

    def __init__(self, *args, teams, gpu_models, **kwargs):
        """`teams`: those the user may list; `gpu_models`: the catalogue's (catalogue_rows())."""
        super().__init__(*args, **kwargs)
        self.fields["team"].use_rows(teams)
        self.fields["gpu_model"].use_rows(gpu_models)


SOFTWARE_CHOICES = [(block["slug"], _(block["title"])) for block in seed.SOFTWARE_BLOCKS]
PORT_SEPARATORS = re.compile(r"[\s,;]+")
# Form inputs are bounded before any parsing so a pasted novel cannot cost more than a page.
MAX_DISK_ROWS_POSTED = 32


class VmRequestForm(forms.Form):
    """The GPU VM request. Field names match the error keys of vms.spec.validation.validate_spec, which
    holds every rule that needs no database; this form adds the ones that do."""

    preset = RowChoiceField(
        queryset=Preset.objects.none(),
        to_field_name="slug",
        required=False,
        label=_("Start from a preset"),
        empty_label=_("From scratch"),
    )
    name = forms.CharField(label=_("Name"), max_length=63)
    team = RowChoiceField(queryset=Team.objects.none(), label=_("Team"), empty_label=None)
    instance_type = RowChoiceField(
        queryset=InstanceType.objects.none(), to_field_name="name", label=_("Instance type"), empty_label=None
    )
    gpu_model = RowChoiceField(
        queryset=GpuModel.objects.none(), to_field_name="slug", label=_("GPU model"), empty_label=None
    )
    image = RowChoiceField(queryset=Image.objects.none(), to_field_name="slug", label=_("Image"), empty_label=None)
    system_disk_size = forms.IntegerField(label=_("System disk (GiB)"), min_value=1)
    system_disk_class = RowChoiceField(
        queryset=StorageClass.objects.none(),
        to_field_name="name",
        label=_("System disk storage class"),
        empty_label=None,
    )
    public_ports = forms.CharField(
        label=_("Public ports"),
        required=False,
        max_length=200,
        help_text=_("Ports opened on the VM's public IP, separated by commas (e.g. 22, 8000). Empty = no public IP."),
    )
    ssh_keys = forms.CharField(
        label=_("SSH public keys"),
        required=False,
        max_length=64_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One OpenSSH public key per line (ed25519, ecdsa or RSA ≥ 2048 bits)."),
    )
    software = forms.MultipleChoiceField(
        choices=SOFTWARE_CHOICES, required=False, label=_("Software"), widget=forms.CheckboxSelectMultiple
    )
    cloud_config = forms.CharField(
        label=_("Additional cloud-config"),
        required=False,
        max_length=64_000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_("A YAML mapping merged after the software blocks, e.g. packages: [htop]."),
    )
    network = forms.ChoiceField(label=_("HPC interconnect network"), required=False, widget=QuickSelect)
    justification = forms.CharField(
        label=_("Justification"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    lease_ends_at = forms.DateTimeField(
        label=_("Lease ends"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_(
            "When the GPUs go back: the VM is stopped then (disks kept). Required for models that "
            "need approval; you can ask for an extension later."
        ),
    )

    def __init__(self, *args, teams, rows, api_shape, **kwargs):
        """`teams`: those the user may ask for; `rows`: the catalogue (catalogue_rows())."""
        super().__init__(*args, **kwargs)
        self.catalogue = catalogue_of(rows)
        self.api_shape = api_shape
        longest = MAX_LEGACY_VM_NAME_LENGTH if api_shape == API_SHAPE_LEGACY else MAX_VM_NAME_LENGTH
        self.fields["name"].help_text = _("Lowercase letters, digits and hyphens; at most %(max)s characters.") % {
            "max": longest
        }
        # Catalogue rows loaded from the seed keep English labels marked for translation; labels an
        # admin typed are shown as typed (gettext returns what it does not know).
        self.fields["preset"].label_from_instance = lambda preset: _t(preset.title)
        self.fields["image"].label_from_instance = lambda image: _t(image.label)
        self.fields["system_disk_class"].label_from_instance = lambda storage_class: _t(storage_class.label)
        self.fields["team"].use_rows(teams)
        self.fields["preset"].use_rows(rows.presets)
        for name, offered in (
            ("instance_type", rows.instance_types),
            ("gpu_model", rows.gpu_models),
            ("image", rows.images),
            ("system_disk_class", rows.storage_classes),
        ):
            self.fields[name].use_rows(row for row in offered if row.active)
        self.fields["network"].choices = [("", _("None"))] + [(n, n) for n in self.catalogue.networks]
        self.warnings: list[str] = []
        self.disk_rows = self._disk_rows()
        self.disk_errors: list[str] = []

    # Disk rows are plain repeated inputs (disk_name, disk_size, disk_class), so rows can be
    # added and removed by re-posting the form, with or without JavaScript.
    def _disk_rows(self) -> list[dict]:
        if not self.is_bound:
            return [dict(row, size=row["size_gib"]) for row in self.initial.get("disks", [])]
        names = self.data.getlist("disk_name")[:MAX_DISK_ROWS_POSTED]
        sizes = self.data.getlist("disk_size")[:MAX_DISK_ROWS_POSTED]
        classes = self.data.getlist("disk_class")[:MAX_DISK_ROWS_POSTED]
        return [
            {
                "name": (name or "").strip()[:64],
                "size": (size or "").strip()[:16],
                "storage_class": (klass or "").strip()[:64],
            }
            for name, size, klass in zip(names, sizes, classes, strict=False)
        ]

    def _parse_disks(self) -> tuple[DiskSpec, ...] | None:
        disks, problems = [], []
        for number, row in enumerate(self.disk_rows, start=1):
            if not row["name"] and not row["size"]:
                continue
            try:
                size = int(row["size"])
            except ValueError:
                problems.append(_t("Disk %(n)d: the size must be a whole number of GiB.") % {"n": number})
                continue
            disks.append(DiskSpec(name=row["name"], size_gib=size, storage_class=row["storage_class"]))
        self.disk_errors.extend(problems)
        return None if problems else tuple(disks)

    def _parse_ports(self) -> tuple[int, ...] | None:
        text = self.cleaned_data.get("public_ports", "")
        ports = []
        for item in filter(None, PORT_SEPARATORS.split(text)):
            if not item.isdecimal():
                self.add_error("public_ports", _t("“%(item)s” is not a port number.") % {"item": item[:20]})
                return None
            ports.append(int(item))
        return tuple(ports)

    def build_spec(self) -> VmSpec | None:
        """The request as a VmSpec, or None while a field it needs does not parse."""
        data = self.cleaned_data
        needed = ("name", "team", "instance_type", "gpu_model", "image", "system_disk_size", "system_disk_class")
        ports = self._parse_ports()
        disks = self._parse_disks()
        if ports is None or disks is None or any(data.get(key) is None for key in needed):
            return None
        return VmSpec(
            name=data["name"].strip(),
            team=data["team"].name,
            instance_type=data["instance_type"].name,
            gpu_model=data["gpu_model"].slug,
            image=data["image"].slug,
            system_disk_gib=data["system_disk_size"],
            system_disk_class=data["system_disk_class"].name,
            disks=disks,
            public_ports=ports,
            ssh_keys=tuple(line.strip() for line in data.get("ssh_keys", "").splitlines() if line.strip()),
            software=tuple(data.get("software", ())),
            cloud_config=data.get("cloud_config", ""),
            network=data.get("network") or None,
            justification=data.get("justification", "").strip(),
        )

    def clean(self):
        cleaned = super().clean()
        self.spec = self.build_spec()
        if self.spec is None:
            for message in self.disk_errors:
                self.add_error(None, message)
            return cleaned
        result = validate_spec(self.spec, catalogue=self.catalogue, api_shape=self.api_shape)
        self.warnings = result.warnings
        for field, messages in result.errors.items():
            for message in messages:
                if field == "disks":
                    self.disk_errors.append(message)
                self.add_error(field if field in self.fields else None, message)
        self._check_lease(cleaned)
        team = cleaned.get("team")
        if team and "name" not in result.errors and selectors.vm_name_taken(team=team, name=self.spec.name):
            self.add_error("name", str(NameTaken(team=team, name=self.spec.name)))
        return cleaned

    def _check_lease(self, cleaned):
        gpu_model = cleaned.get("gpu_model")
        if "lease_ends_at" in self.errors:
            return
        problem = lease_end_problem(
            cleaned.get("lease_ends_at"),
            gpu_model_slug=gpu_model.slug if gpu_model else "",
            needs_approval=bool(gpu_model and gpu_model.needs_approval),
        )
        if problem:
            self.add_error("lease_ends_at", problem)

    @property
    def other_errors(self) -> list[str]:
        """Errors that belong to no field and are not shown next to the disk rows."""
        return [error for error in self.non_field_errors() if error not in self.disk_errors]


def initial_from_preset(preset: Preset | None) -> dict:
    defaults = seed.FORM_DEFAULTS
    if preset is None:
        return {
            "instance_type": defaults["instance_type"],
            "gpu_model": defaults["gpu_model"],
            "image": defaults["image"],
            "system_disk_size": defaults["system_disk_gib"],
            "system_disk_class": defaults["system_disk_class"],
            "public_ports": ", ".join(map(str, defaults["public_ports"])),
            "software": defaults["software"],
        }
    return {
        "preset": preset.slug,
        "name": preset.suggested_name,
        "instance_type": preset.instance_type.name,
        "gpu_model": preset.gpu_model.slug,
        "image": defaults["image"],
        "system_disk_size": preset.system_disk_gib,
        "system_disk_class": preset.system_disk_class,
        "disks": preset.disks,
        "public_ports": ", ".join(map(str, preset.public_ports)),
        "software": preset.software,
        "cloud_config": yaml.safe_dump(preset.cloud_config, sort_keys=False) if preset.cloud_config else "",
    }


class LeaseExtensionForm(forms.Form):
    lease_ends_at = forms.DateTimeField(
        label=_("New lease end"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    justification = forms.CharField(
        label=_("Why"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, vm, **kwargs):
        super().__init__(*args, **kwargs)
        self.vm = vm

    def clean_lease_ends_at(self):
        value = self.cleaned_data["lease_ends_at"]
        problem = lease_extension_problem(value, current_end=self.vm.lease_ends_at)
        if problem:
            raise forms.ValidationError(problem)
        return value

    def clean(self):
        cleaned = super().clean()
        problem = extension_justification_problem(
            cleaned.get("justification", ""), needs_approval=self.vm.gpu_model.needs_approval
        )
        if problem:
            self.add_error("justification", problem)
        return cleaned
