"""The presets and storage layouts come from Hikube's reference, and so do the best-practice rules
the request summary checks: applied as a user applies them, none may contradict the rules."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.browser import log_in
from vms.catalogue.seed import STORAGE_LAYOUTS
from vms.models import Membership, Preset, Team

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What a user adds to every preset: presets carry no SSH key, and the summary rightly warns without one.
SSH_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
    + " alice@laptop"
)


def refreshed(page, selector, action):
    """Do `action` and wait until htmx has replaced the element at `selector`."""
    page.locator(selector).evaluate("element => element.dataset.stale = '1'")
    action()
    page.locator(f"{selector}:not([data-stale])").wait_for()


def test_every_preset_with_every_storage_layout_follows_the_best_practices(page, make_user):
    user = make_user("alice", "s3cret-pass")
    Membership.objects.create(team=Team.objects.create(name="ml-research"), user=user)
    log_in(page, "alice")

    seen, warned = [], {}
    for preset in Preset.objects.order_by("position"):
        page.goto(f"/vms/new/?preset={preset.slug}")
        refreshed(page, "#summary", lambda: page.get_by_label("SSH public keys").fill(SSH_KEY))
        for layout in [None, *STORAGE_LAYOUTS]:
            if layout is not None:
                refreshed(
                    page,
                    "#request-form",
                    lambda layout=layout: page.get_by_role("button", name=layout["title"]).click(),
                )
            label = f"{preset.slug} + {layout['slug'] if layout else 'its own disks'}"
            seen.append((label, page.locator("#summary [data-summary=gpus]").inner_text()))
            hints = page.locator("#summary .hint").all_inner_texts()
            if hints:
                warned[label] = hints
    assert warned == {}
    # Every combination was summarised with its preset's GPUs, so none slipped through unchecked.
    assert len(seen) == Preset.objects.count() * (1 + len(STORAGE_LAYOUTS)) == 20
    assert ("hpc-quad-h100 + training", "4× H100") in seen
