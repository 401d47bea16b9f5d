"""Form widgets written in Python where Django's cost too much for what they draw."""

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language

# {(language, name, value, attributes, choices): HTML}: a select is the same for everyone given
# the same choices and value, and drawing one cost about 20 µs an option. Emptied when full.
_drawn: dict[tuple, str] = {}
DRAWN_KEPT = 1024


class QuickSelect(forms.Select):
    """A <select> drawn in Python. Django's renders one template per option, which took about
    4 ms for the VM list's filters (50 teams): more than the rest of the page's rows. Same
    markup, attributes and escaping; no option groups (no form here uses them). Each different
    select is drawn once a process."""

    def render(self, name, value, attrs=None, renderer=None):
        key = (
            get_language(),
            name,
            tuple(self.format_value(value)),
            tuple(sorted(self.build_attrs(self.attrs, attrs).items())),
            tuple((str(choice), str(label)) for choice, label in self.choices),
        )
        html = _drawn.get(key)
        if html is None:
            if len(_drawn) >= DRAWN_KEPT:
                _drawn.clear()
            html = _drawn[key] = self._draw(name, value, attrs)
        return html

    def _draw(self, name, value, attrs):
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (option["value"], flatatt(option["attrs"]), option["label"])
                for _group, choices, _index in widget["optgroups"]
                for option in choices
            ),
        )
        return format_html('<select name="{}"{}>{}</select>', widget["name"], flatatt(widget["attrs"]), options)
