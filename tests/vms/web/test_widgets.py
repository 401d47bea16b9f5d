"""QuickSelect (vms/web/widgets.py): each different select is drawn once a process, and a
different value, choice, attribute or language is a different select."""

from django.utils import translation

from vms.models import VirtualMachine
from vms.web.widgets import QuickSelect


def test_a_select_is_drawn_once_then_kept():
    widget = QuickSelect(choices=[("", "All"), ("1", "ml-research"), ("2", "vision")])
    first = widget.render("team", "1")
    assert '<option value="1" selected>ml-research</option>' in first
    assert widget.render("team", "1") is first


def test_another_value_choice_attribute_or_language_is_drawn_anew():
    widget = QuickSelect(choices=[("", "All"), ("1", "ml-research"), ("2", "vision")])
    assert '<option value="2" selected>vision</option>' in widget.render("team", "2")
    assert 'id="id_team"' in widget.render("team", "2", attrs={"id": "id_team"})
    widget.choices = [("", "All"), ("1", "ml-research"), ("3", "nlp")]
    assert ">nlp</option>" in widget.render("team", "2")
    states = QuickSelect(choices=VirtualMachine.State.choices)
    with translation.override("fr"):
        assert ">En marche</option>" in states.render("state", "")
    with translation.override("en"):
        assert ">Running</option>" in states.render("state", "")


def test_what_is_drawn_escapes_what_users_named():
    widget = QuickSelect(choices=[("1", "<script>alert(1)</script>")])
    assert "&lt;script&gt;" in widget.render("team", "")
