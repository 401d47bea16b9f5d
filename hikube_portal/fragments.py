"""A list's rows rendered once and then read from the cache, a page's rows in one round trip.

A row's HTML is a function of what its query loaded (the row and the related rows it carries),
the language, the time zone, what the caller adds to the row's context, and the code that
renders it. The cache key is a digest of all of them, so nothing ever needs invalidating: a
changed row, a new translation or a new deploy asks for a key that was never written, and the
old entries expire unread. A row partial therefore reads nothing but its context: no request,
no user, no query (a deferred field it reads would be a query per row, which the pages' query
counts catch). The digest of the code covers the templates a partial includes as they were when
the process started: with DEBUG, an included template edited since shows after a restart.

A page of rows can be keyed before any instance is made: row_values reads the columns the rows'
instances would be read with, as plain values, and rendered_rows_of_values (or, for an API,
serialized_rows_of_values) reads whole only the rows the cache misses. What the instances carry
beyond their columns (the catalogue's rows a VM is given) is named by the caller."""

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import fields, is_dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache as once
from pathlib import Path
from uuid import UUID

from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.functional import Promise, cached_property
from django.utils.safestring import SafeString

FRAGMENT_SECONDS = 3600
_PROJECT = Path(__file__).resolve().parent.parent
# What renders a row besides its partial: the Python (template tags, models' labels and
# properties), the templates and the translations.
_RENDERING_SOURCES = ("hikube_portal/**/*.py", "vms/**/*.py", "monitoring/**/*.py", "templates/**/*", "locale/**/*.mo")


@once
def _code_stamp() -> bytes:
    """A digest of the code a fragment comes from, read once a process (about 5 ms)."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted({path for pattern in _RENDERING_SOURCES for path in _PROJECT.glob(pattern) if path.is_file()}):
        digest.update(str(path.relative_to(_PROJECT)).encode())
        digest.update(path.read_bytes())
    return digest.digest()


# {template name: (the loaded partial, a digest of its source and the code)}: reading a partial's
# source reads its file again. With DEBUG, a template edited is loaded again, a new object.
_digests: dict[str, tuple[object, str]] = {}


def _source_digest(template_name: str, template) -> str:
    held, digest = _digests.get(template_name, (None, ""))
    if held is not template.template:
        digest = hashlib.blake2b(template.template.source.encode() + _code_stamp(), digest_size=16).hexdigest()
        _digests[template_name] = (template.template, digest)
    return digest


# What most columns hold, whose repr says all: the common case, answered first.
_SCALARS = frozenset({str, int, float, bool, type(None), datetime, date, timedelta, Decimal, UUID})


class _Plain:
    """Values as data whose repr tells apart whatever renders differently (a model's own repr
    shows only its name, a dataclass's the models' in it). Refuses what it does not know: an
    object whose repr left out what it shows would hand one row's HTML to another.

    One serves all the contexts of a page: a row met again (the catalogue's rows, which every VM
    on a page carries) is spelled out once."""

    def __init__(self):
        self._spelled: dict[int, list] = {}
        self._open: set[int] = set()  # the rows being spelled out: a relation's way back stops there
        self._kept: list[Model] = []  # the rows spelled out, so that no id above is reused meanwhile

    def value(self, value):
        if type(value) in _SCALARS:
            return value
        if isinstance(value, Model):
            return self.row(value)
        if isinstance(value, Promise):
            return str(value)
        if isinstance(value, str | int | float):
            # A safe string renders unescaped, a choice as its label: the type is part of the value.
            return (type(value).__name__, value)
        if is_dataclass(value) and not isinstance(value, type):
            return [
                type(value).__name__,
                *((field.name, self.value(getattr(value, field.name))) for field in fields(value)),
            ]
        if isinstance(value, list | tuple):
            return [self.value(each) for each in value]
        if isinstance(value, dict):
            return [(key, self.value(each)) for key, each in value.items()]
        raise TypeError(f"a {type(value).__name__} cannot be part of a fragment's key")

    def row(self, instance: Model) -> list:
        """What `instance` holds from the database, with the related rows it carries (a row met
        again down its own relations, a one-to-one's reverse side say, by its class and key)."""
        key = id(instance)
        if key in self._spelled:
            return self._spelled[key]
        if key in self._open:
            return [type(instance).__name__, instance.pk]
        self._open.add(key)
        spelled = [type(instance).__name__]
        for name, value in instance.__dict__.items():
            if type(value) in _SCALARS:
                spelled.append((name, value))
            elif name == "_prefetched_objects_cache":
                spelled.extend((each, [self.row(row) for row in rows]) for each, rows in value.items())
            elif name != "_state":
                spelled.append((name, self.value(value)))
        for name, related in instance._state.fields_cache.items():
            spelled.append((name, None if related is None else self.row(related)))
        self._open.discard(key)
        self._kept.append(instance)
        self._spelled[key] = spelled
        return spelled


def rendered_rows(
    template_name: str,
    rows: Iterable,
    *,
    name: str,
    extra: Callable[[object], dict] | None = None,
) -> list[SafeString]:
    """Each of `rows` (model instances, or dataclasses, lists and dicts of them and of plain
    values) rendered by the partial `template_name` with the row as `name` in its context, plus
    `extra(row)` (what changes with the clock, such as an age, belongs there)."""
    return _rendered(template_name, [{name: row, **(extra(row) if extra else {})} for row in rows])


def rendered_fragment(template_name: str, context: dict) -> SafeString:
    """The partial `template_name` rendered with `context` (of the same kinds of values as a row)."""
    return _rendered(template_name, [context])[0]


def row_values(rows: QuerySet) -> QuerySet:
    """`rows`, a queryset narrowed with .only(), as dicts of the columns its instances are read
    with ("pk" and its annotations among them): what rendered_rows_of_values keys a row by."""
    columns, deferring = rows.query.deferred_loading
    if deferring:
        raise ValueError("name the columns a row is read with: .only(), not .defer()")
    return rows.values("pk", *sorted(columns), *rows.query.annotations)


class RowValuesPaginator(Paginator):
    """Pages row_values(rows), and counts `rows` itself: counted as values, a row's columns from
    related tables would join them (10 ms instead of 3 for 10,000 VMs and their teams and owners)."""

    def __init__(self, rows: QuerySet, per_page: int, **options):
        super().__init__(row_values(rows), per_page, **options)
        self._rows = rows

    @cached_property
    def count(self) -> int:
        return self._rows.count()


def rendered_rows_of_values(
    template_name: str,
    rows: list[dict],
    instances: QuerySet,
    *,
    name: str,
    row_of: Callable[[Model], object] | None = None,
    extra: Callable[[dict], dict] | None = None,
    depends_on: tuple = (),
) -> list[SafeString]:
    """Each of `rows` (row_values(instances) of a page) rendered by the partial `template_name`
    with the row's instance (or `row_of(instance)`) as `name`, plus `extra(row)`; see
    _made_from_values."""
    if not rows:
        return []
    template = get_template(template_name)

    def render(instance, more):
        return template.render({name: row_of(instance) if row_of else instance, **more})

    scope = (*_scope(_source_digest(template_name, template)), *depends_on)
    return [SafeString(html) for html in _made_from_values(scope, rows, instances, make=render, extra=extra)]


def serialized_rows_of_values(
    serializer_class: type, rows: list[dict], instances: QuerySet, *, depends_on: tuple = ()
) -> list[dict]:
    """Each of `rows` (row_values(instances) of a page) as `serializer_class` gives its instance,
    for an API's page of rows; see _made_from_values."""
    if not rows:
        return []
    origin = f"{serializer_class.__module__}.{serializer_class.__qualname__}:{_code_stamp().hex()}"
    return _made_from_values(
        (*_scope(origin), *depends_on),
        rows,
        instances,
        make=lambda instance, _more: dict(serializer_class(instance).data),
    )


def _made_from_values(scope: tuple, rows: list[dict], instances: QuerySet, *, make, extra=None) -> list:
    """What `make(instance, extra(row))` gives for each row, keyed by the row's values, not its
    instance: a page whose rows are all in the cache reads no instance at all. The missing rows'
    instances are read from `instances`, narrowed to the same columns; the scope holds what
    those instances carry beyond their columns (the catalogue's rows, say).

    A row that changed between the two reads is made from its instance and not kept: it would be
    found again under values it does not show. A row gone meanwhile is left out."""
    plain = _Plain()
    extras = [extra(row) if extra else {} for row in rows]
    keys = [_key(scope, (plain.value(row), plain.value(more))) for row, more in zip(rows, extras, strict=True)]
    found = cache.get_many(keys)
    missing = {
        row["pk"]: (row, more, key) for row, more, key in zip(rows, extras, keys, strict=True) if key not in found
    }
    fresh, kept = {}, {}
    if missing:
        for instance in instances.filter(pk__in=list(missing)):
            row, more, key = missing[instance.pk]
            fresh[key] = make(instance, more)
            if all(_column(instance, column) == value for column, value in row.items()):
                kept[key] = fresh[key]
    if kept:
        cache.set_many(kept, FRAGMENT_SECONDS)
    return [found[key] if key in found else fresh[key] for key in keys if key in found or key in fresh]


def _column(instance: Model, column: str):
    """What `instance` holds of a column named as .values() names it ("team__name" through its
    relation, a foreign key by its field's name, an annotation by its own)."""
    *relations, last = column.split("__")
    for relation in relations:
        try:
            instance = getattr(instance, relation)
        except ObjectDoesNotExist:  # a one-to-one's missing side, which .values() reads as None
            return None
        if instance is None:
            return None
    try:
        return getattr(instance, instance._meta.get_field(last).attname)
    except FieldDoesNotExist:
        return getattr(instance, last)


def _scope(origin: str) -> tuple:
    """What a fragment's key holds besides its values: what made it (a template's or a
    serializer's digest), the language and the time zone."""
    return (origin, translation.get_language(), timezone.get_current_timezone_name())


def _key(scope: tuple, plain) -> str:
    return "fragment:" + hashlib.blake2b(repr((scope, plain)).encode(), digest_size=20).hexdigest()


def _rendered(template_name: str, contexts: list[dict]) -> list[SafeString]:
    if not contexts:
        return []
    template = get_template(template_name)
    scope = _scope(_source_digest(template_name, template))
    plain = _Plain()
    keys = [_key(scope, plain.value(context)) for context in contexts]
    found = cache.get_many(keys)
    fresh = {key: template.render(context) for key, context in zip(keys, contexts, strict=True) if key not in found}
    if fresh:
        cache.set_many(fresh, FRAGMENT_SECONDS)
    return [SafeString(found[key] if key in found else fresh[key]) for key in keys]
