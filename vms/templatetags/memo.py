"""`{% memo a b %}…{% endmemo %}`: a part of the layout that depends on nothing but the language
and the values named, rendered once a process for each combination of them. The layout's links,
icons and navigation are the same on every page for everyone with the same rights, and drawing
them cost as much as the rest of a light page. Whatever else the part shows would be shown to the
next user too: what depends on the user, the request or the clock stays outside."""

from django import template
from django.utils import translation

register = template.Library()

# {(node, language, values): HTML}: a few entries per layout part (the values are rights flags).
_parts: dict[tuple, str] = {}


class MemoNode(template.Node):
    def __init__(self, nodelist, expressions):
        self.nodelist = nodelist
        self.expressions = expressions

    def render(self, context):
        key = (self, translation.get_language(), *(expression.resolve(context) for expression in self.expressions))
        part = _parts.get(key)
        if part is None:
            part = _parts[key] = self.nodelist.render(context)
        return part


@register.tag
def memo(parser, token):
    expressions = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    return MemoNode(nodelist, expressions)
