"""`manage.py vm_manifest SPEC.yaml`: the manifests a request would apply, for GitOps.

Validates the document with the request form's rules and prints multi-document YAML, or prints
every error with its field and exits 1. The document format is in the vms.spec package docstring."""

import sys

import yaml
from django.conf import settings
from django.core.management.base import CommandError

from vms.governance.documents import spec_document_check
from vms.management.database import DatabaseCommand
from vms.models import Team
from vms.render.manifests import render_manifests, to_yaml
from vms.spec.request import NON_FIELD_ERRORS

MAX_DOCUMENT_BYTES = 256 * 1024


class Command(DatabaseCommand):
    help = "Validate a VM spec document and print the Kubernetes manifests it would apply."

    def add_arguments(self, parser):
        parser.add_argument("spec", help="path to the YAML spec document, or - for standard input")
        parser.add_argument(
            "--api-shape",
            choices=["current", "legacy"],
            default=None,
            help="Cozystack API shape (default: the CLUSTER_API_SHAPE setting)",
        )

    def handle(self, *args, spec, api_shape, **options):
        api_shape = api_shape or settings.CLUSTER_API_SHAPE
        check = spec_document_check(self._load(spec), teams=Team.objects.all(), api_shape=api_shape)
        for warning in check.warnings:
            self.stderr.write(f"warning: {warning}")
        if not check.ok:
            for field, messages in sorted(check.errors.items()):
                label = "document" if field == NON_FIELD_ERRORS else field
                for message in messages:
                    self.stderr.write(f"{label}: {message}")
            sys.exit(1)
        objects = render_manifests(
            check.spec, catalogue=check.catalogue, namespace=check.team.namespace, vm_id="new", api_shape=api_shape
        )
        self.stdout.write(to_yaml(objects), ending="")

    def _load(self, path):
        try:
            if path == "-":
                text = sys.stdin.read(MAX_DOCUMENT_BYTES + 1)
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read(MAX_DOCUMENT_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        if len(text) > MAX_DOCUMENT_BYTES:
            raise CommandError(f"{path} is larger than {MAX_DOCUMENT_BYTES // 1024} KiB.")
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(f"{path} is not valid YAML: {exc}") from None
