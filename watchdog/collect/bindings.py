"""Who claims each bound secret. Anyone who may write tags on a Web PubSub resource (or on a
secret) can bind a secret to a resource; two resources bound to one secret would make secret sync
overwrite it back and forth every sweep. Claims come from the resources' `watchdog-secrets` tags
(the resources this sweep sees) and from every listed secret's `webpubsub-resource-id` tag,
whichever resource it names, in or out of the sweep's scope."""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping

from watchdog.collect.proofs import Listed
from watchdog.collect.secrets import Binding
from watchdog.models import BoundSecret


def claims(bindings: Iterable[Binding], listed: Mapping[str, Listed]) -> dict[str, frozenset[str]]:
    """Lower-case secret URI -> the lower-case ids of every resource claiming it."""
    out: dict[str, set[str]] = {}
    for b in bindings:
        out.setdefault(b.uri.lower(), set()).add(b.resource_id.lower())
    for uri, attributes in listed.items():
        if attributes.claimed_for:
            out.setdefault(uri.lower(), set()).add(attributes.claimed_for)
    return {uri: frozenset(ids) for uri, ids in out.items()}


def annotate(secrets: Mapping[str, list[BoundSecret]], claimed: Mapping[str, frozenset[str]]
             ) -> dict[str, list[BoundSecret]]:
    """Each resource's secrets with `claimed_by`: the other resources claiming the same secret."""
    return {rid: [replace(s, claimed_by=tuple(sorted(claimed.get(s.uri.lower(), frozenset()) - {rid.lower()})))
                  for s in found] for rid, found in secrets.items()}
