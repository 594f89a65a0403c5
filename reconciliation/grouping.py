"""Which ERP entities an operator's ``--entity`` means, and which Zoho list serves each."""

from __future__ import annotations

from collections.abc import Iterable

from entities.mappings import BY_ENTITY, CONTACTS, MAPPINGS, EntityMapping

ALL_ENTITIES: tuple[str, ...] = tuple(mapping.entity for mapping in MAPPINGS)
ENTITY_CHOICES: tuple[str, ...] = (*ALL_ENTITIES, CONTACTS)


def entities_for(name: str | None) -> list[str]:
    """The ERP entities an ``--entity`` value means; ``contacts`` is customers and vendors."""
    if name is None:
        return list(ALL_ENTITIES)
    if name == CONTACTS:
        return [m.entity for m in MAPPINGS if m.module == "contact"]
    if name in BY_ENTITY:
        return [name]
    raise ValueError(f"{name!r} is not one of {', '.join(ENTITY_CHOICES)}")


def group_by_module(entities: Iterable[str]) -> dict[str, list[EntityMapping]]:
    """The entities' mappings by Zoho module, in order: one list call serves a module's
    entities together (customers and vendors are both contacts)."""
    groups: dict[str, list[EntityMapping]] = {}
    for entity in dict.fromkeys(entities):
        mapping = BY_ENTITY[entity]
        groups.setdefault(mapping.module, []).append(mapping)
    return groups
