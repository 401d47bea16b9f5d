"""The French catalogue is complete and its placeholders match the English ones."""

import ast
import re
from pathlib import Path

from django.utils import translation

PO = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES" / "django.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[-#0 +]*\d*(?:\.\d+)?[sdfg]|%%")


def entries():
    for block in PO.read_text().split("\n\n"):
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
    problems = [fields["msgid"] for fields, fuzzy in entries()
                if fuzzy or not all(value for key, value in fields.items() if key.startswith("msgstr"))]
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
