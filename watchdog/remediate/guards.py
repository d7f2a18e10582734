"""Guard names: what a `skipped` Outcome carries in `guard`, each defined once.

The plan (policy, before acting) and the executors' re-checks (just before writing) share them,
so a report or a ledger query can count one guard whichever stage stopped the action.
"""
from __future__ import annotations

LEASE = "lease"  # another sweep holds the resource, or there is no ledger to hold one
LOCAL_AUTH = "local-auth-disabled"
PROVISIONING = "provisioning"
FREE = "free-tier"
TIER = "tier"
AUTOSCALE = "autoscale"
COOLDOWN = "cooldown"
BUDGET = "budget"
SKU_MAX = "sku-max"
SECRET_DISABLED = "secret-disabled"
KEY_TAG = "key-tag"
FOREIGN = "foreign-endpoint"
PROOF_ACCEPTED = "proof-accepted"
CHANGED = "changed"  # the resource changed since collection
SECRET_CHANGED = "secret-changed"  # someone wrote the secret since collection
CONFLICT = "conflicting-binding"  # another resource claims the secret too
VAULT_NOT_ALLOWED = "vault-not-allowed"  # the secret's vault is not in WATCHDOG_KEY_VAULTS
NO_SECRET = "no-secret"  # nothing bound to the resource to move between keys
NO_ACTION_GROUP = "no-action-group"  # WATCHDOG_ALERTS_ACTION_GROUP is not set
