"""Django's form renderer, with the plain inputs, the choices of checkbox and radio lists, and
the text areas written in Python. Django's renders two or three templates for each (the input,
its attributes, its label): about 0.1 ms apiece, and the request form's nineteen cost more than
the rest of its fields. The markup is the templates' to the character
(tests/portal/test_form_renderer.py compares them); every other widget still renders from its
template."""

from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData

# The widget templates that only include django/forms/widgets/input.html.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{name}.html"
    for name in (
        "input",
        "text",
        "number",
        "email",
        "url",
        "password",
        "hidden",
        "search",
        "tel",
        "color",
        "date",
        "datetime",
        "time",
        "checkbox",
    )
)
TEXTAREA_TEMPLATE = "django/forms/widgets/textarea.html"
# One choice of a checkbox or radio list (BoundWidget.tag): the input, in its label when asked.
OPTION_TEMPLATES = frozenset(f"django/forms/widgets/{name}_option.html" for name in ("input", "checkbox", "radio"))


def _text(value) -> str:
    """What `{{ value|stringformat:'s' }}` prints: the value as text, escaped unless marked safe."""
    return conditional_escape(value if isinstance(value, SafeData) else "%s" % (value,))  # noqa: UP031 - the filter's own formatting


def _attributes(attrs: dict) -> str:
    """django/forms/widgets/attrs.html: False leaves an attribute out, True writes its name alone."""
    return "".join(
        f" {conditional_escape(name)}" if value is True else f' {conditional_escape(name)}="{_text(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _printed(value) -> str:
    """What `{{ value }}` prints: localised, as text, escaped unless marked safe."""
    value = localize(value)
    return conditional_escape(value if isinstance(value, str) else str(value))


def _input(widget: dict) -> str:
    """django/forms/widgets/input.html"""
    value = "" if widget["value"] is None else f' value="{_text(widget["value"])}"'
    return (
        f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"'
        f"{value}{_attributes(widget['attrs'])}>"
    )


class QuickRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        widget = context.get("widget")
        if template_name in INPUT_TEMPLATES:
            return _input(widget)
        if template_name in OPTION_TEMPLATES:
            if not widget["wrap_label"]:
                return _input(widget)
            label_for = f' for="{_printed(widget["attrs"]["id"])}"' if widget["attrs"].get("id") else ""
            # The newline is input.html's last character, which only the unwrapped tag strips.
            return f"<label{label_for}>{_input(widget)}\n {_printed(widget['label'])}</label>"
        if template_name == TEXTAREA_TEMPLATE:
            name, text = conditional_escape(widget["name"]), conditional_escape(widget["value"] or "")
            return f'<textarea name="{name}"{_attributes(widget["attrs"])}>\n{text}</textarea>'
        return super().render(template_name, context, request=request)
