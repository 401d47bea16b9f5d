"""The form renderer draws plain inputs and text areas in Python: the same markup as Django's
widget templates, to the character, whatever the values and attributes."""

import datetime

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from hikube_portal.form_renderer import INPUT_TEMPLATES, QuickRenderer

ATTRIBUTES = [
    {},
    {"id": "id_name", "required": True, "disabled": False, "maxlength": 63},
    {"placeholder": 'say "hi" <b>&</b>', "data-x": mark_safe("<safe>"), "aria-label": gettext_lazy("Name")},
    {"min": 0, "step": 0.5, "autofocus": True, "title": None},
]
WIDGETS = [
    forms.TextInput(),
    forms.NumberInput(),
    forms.EmailInput(),
    forms.URLInput(),
    forms.PasswordInput(render_value=True),
    forms.HiddenInput(),
    forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    forms.DateInput(),
    forms.CheckboxInput(),
    forms.Textarea(attrs={"rows": 3}),
]
VALUES = [None, "", "plain", 'quotes " and <tags> & ampersands', mark_safe("<i>safe</i>"), 0, 42, "line\nbreak"]


@pytest.mark.parametrize("widget", WIDGETS, ids=lambda widget: type(widget).__name__)
def test_each_plain_widget_renders_as_its_template_does(widget):
    quick, reference = QuickRenderer(), DjangoTemplates()
    compared = 0
    for attrs in ATTRIBUTES:
        for value in [*VALUES, datetime.datetime(2026, 12, 1, 16, 32), True, False]:
            ours = widget.render("field", value, attrs=attrs, renderer=quick)
            theirs = widget.render("field", value, attrs=attrs, renderer=reference)
            assert ours == theirs, (value, attrs)
            compared += 1
    assert compared == len(ATTRIBUTES) * (len(VALUES) + 3)


@pytest.mark.parametrize("widget_class", [forms.CheckboxSelectMultiple, forms.RadioSelect])
def test_each_choice_of_a_list_renders_as_its_template_does(widget_class):
    choices = [("a", "Plain"), ("b", 'Quotes " <b>&'), ("c", mark_safe("<i>safe</i>")), (3, gettext_lazy("Name"))]

    class Form(forms.Form):
        picked = forms.MultipleChoiceField(choices=choices, widget=widget_class)

    compared = 0
    for data in ({"picked": ["a", "c"]}, {}):
        for attrs in ({}, {"id": 'id_"picked"', "class": "x"}):
            ours = Form(data, renderer=QuickRenderer())
            theirs = Form(data, renderer=DjangoTemplates())
            ours.fields["picked"].widget.attrs = theirs.fields["picked"].widget.attrs = attrs
            for mine, reference in zip(ours["picked"], theirs["picked"], strict=True):
                assert mine.tag() == reference.tag() and str(mine) == str(reference)
                compared += 1
    assert compared == 2 * 2 * len(choices)


def test_the_python_paths_are_taken_and_other_widgets_keep_their_templates(monkeypatch):
    asked = []
    monkeypatch.setattr(DjangoTemplates, "get_template", lambda self, name: asked.append(name) or 1 / 0)
    renderer = QuickRenderer()
    forms.TextInput().render("name", "x", renderer=renderer)
    forms.Textarea().render("text", "x", renderer=renderer)
    assert asked == []
    with pytest.raises(ZeroDivisionError):
        forms.RadioSelect(choices=[("a", "A")]).render("choice", "a", renderer=renderer)
    assert asked == ["django/forms/widgets/radio.html"]
    assert "django/forms/widgets/radio.html" not in INPUT_TEMPLATES


def test_the_portal_forms_use_it():
    assert isinstance(get_default_renderer(), QuickRenderer)
