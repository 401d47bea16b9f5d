"""The French catalogue is complete, matches what the code marks, and its placeholders match the
English ones."""

import ast
import re
from pathlib import Path

from django.core.management import call_command
from django.utils import translation

PO = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES" / "django.po"
# What `make messages` ignores besides dot-directories such as .venv: the tests and the run-time files.
NOT_SCANNED = {"locale", "tests", "var", "test-artifacts"}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-#0 +]*\d*(?:\.\d+)?[sdfg]|%%")


def entries(po: Path = PO):
    for block in po.read_text().split("\n\n"):
        lines = block.splitlines()
        fields, current = {}, None
        for line in lines:
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) (".*")$', line)
            if match:
                current = match.group(1)
                fields[current] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and current:
                fields[current] += ast.literal_eval(line)
        if fields.get("msgid"):
            yield fields, any(line.startswith("#,") and "fuzzy" in line for line in lines)


def test_every_message_is_translated_and_none_is_fuzzy():
    problems = [
        fields["msgid"]
        for fields, fuzzy in entries()
        if fuzzy or not all(value for key, value in fields.items() if key.startswith("msgstr"))
    ]
    assert problems == []
    assert sum(1 for _ in entries()) > 500


def test_placeholders_survive_translation():
    for fields, _ in entries():
        for key, value in fields.items():
            if key.startswith("msgstr"):
                source = fields["msgid_plural"] if key == "msgstr[1]" else fields["msgid"]
                assert sorted(PLACEHOLDER.findall(value)) == sorted(PLACEHOLDER.findall(source)), (source, value)


def test_compiled_catalogue_is_the_one_in_use():
    with translation.override("fr"):
        assert translation.gettext("Your virtual machines") == "Vos machines virtuelles"
        assert translation.gettext("Waiting for approval") != "Waiting for approval"


def test_the_catalogue_holds_exactly_the_strings_the_code_marks(tmp_path, monkeypatch):
    """makemessages over the project, into an empty catalogue of a scratch tree, extracts what the
    code and templates mark today: the committed catalogue must hold the same messages, none
    missing (it would show in English) and none stale."""
    root = PO.parents[3]
    for entry in root.iterdir():
        if entry.name not in NOT_SCANNED and not entry.name.startswith("."):
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / "locale").mkdir()
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["fr"], symlinks=True, verbosity=0)
    extracted = {fields["msgid"] for fields, _ in entries(tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po")}
    committed = {fields["msgid"] for fields, _ in entries()}
    assert sorted(extracted - committed) == [], "marked in the code but missing from the catalogue"
    assert sorted(committed - extracted) == [], "in the catalogue but no longer marked anywhere"
