"""The permissions manifest: every Azure right the watchdog holds, per feature, and why.

This is the single source of truth for least privilege. `infra/` grants exactly this and
`tests/unit/test_permissions.py` fails when the custom role in `infra/app/watchdog-role.bicep`
grants less or more than `role_actions(report_only)`. The README's rights table is rendered from
`markdown_table()` (`python infra/scripts/render_readme.py`).

Where the rights live:
- scope "subscription": control-plane actions in the watchdog's custom role, assigned to the
  Function App's identity at subscription scope.
- scope "key-vault": data actions on the vaults given to the deployment, granted by the built-in
  role `VAULT_ROLE_FULL` (Key Vault Secrets Officer) or, for report-only,
  `VAULT_ROLE_REPORT_ONLY` (Key Vault Secrets User), each assigned on the vault only.
- scope "own-storage": built-in Storage data roles on the watchdog's own storage account only
  (Functions host blobs, deployment package, ledger tables, the background check's queue).

Action strings are taken from Microsoft's "Azure resource provider operations" reference;
tests/unit/test_azure_names.py checks each against the copy in tests/data/azure/operations/.
Azure RBAC compares them case-insensitively; they are written here as that page writes them.
"""
from __future__ import annotations

from watchdog.remediate.registry import remediations
from watchdog.rights import KEY_VAULT, OWN_STORAGE, SUBSCRIPTION, BuiltInRole, Feature

__all__ = ["KEY_VAULT", "OWN_STORAGE", "SUBSCRIPTION", "BuiltInRole", "Feature", "FEATURES", "WRITE_FEATURES"]

# Resource-specific log tables the log queries read (AZURE-FACTS: resource logs).
LOG_TABLES = ("WebPubSubConnectivity", "WebPubSubMessaging", "WebPubSubHttpRequest")


KEY_VAULT_SECRETS_USER = BuiltInRole(
    "Key Vault Secrets User",
    "4633458b-17de-408a-b874-0445c86b69e6",
    ("Microsoft.KeyVault/vaults/secrets/getSecret/action", "Microsoft.KeyVault/vaults/secrets/readMetadata/action"),
)
# Officer grants all secret data actions (also delete, backup, purge...): broader than secret
# sync needs (setSecret). It is the built-in role the issue asks for; see "what's left open".
KEY_VAULT_SECRETS_OFFICER = BuiltInRole(
    "Key Vault Secrets Officer",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    ("Microsoft.KeyVault/vaults/secrets/*",),
)
VAULT_ROLE_FULL = KEY_VAULT_SECRETS_OFFICER
VAULT_ROLE_REPORT_ONLY = KEY_VAULT_SECRETS_USER

# On the watchdog's own storage account only: what the Functions host needs for identity-based
# AzureWebJobsStorage (blobs: the timer's schedule monitor and locks, the deployment package) plus
# the ledger's tables, plus the queue of background checks (`POST /api/check?fresh=true` adds a
# message through its output binding; the queue-triggered function reads, processes and deletes
# it). Only the queue role's data actions are listed: they are what the check run needs.
STORAGE_QUEUE_DATA_CONTRIBUTOR = BuiltInRole(
    "Storage Queue Data Contributor", "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    ("Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
     "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
     "Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete",
     "Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action",
     "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action"),
)
STORAGE_ROLES = (
    BuiltInRole("Storage Blob Data Owner", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", ()),
    BuiltInRole("Storage Table Data Contributor", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", ()),
    STORAGE_QUEUE_DATA_CONTRIBUTOR,
)
# On its own Application Insights only: send its telemetry with the identity (local auth is off).
MONITORING_METRICS_PUBLISHER = BuiltInRole("Monitoring Metrics Publisher", "3913510d-42f4-4e42-8a64-420c390055eb", ())

# Event-driven checks (README "Events"): each Event Grid system topic's own identity (not the
# app's) writes undeliverable events to the dead-letter container of the watchdog's storage
# account, and may do only that (assigned on the container).
EVENT_DEAD_LETTER_ROLE = BuiltInRole("Storage Blob Data Contributor", "ba92f5b4-2d11-453d-a403-e96b0029c9fe", ())
# What whoever deploys with enableEvents needs beyond the app itself: the system topics and their
# subscriptions (to a function of this app), and the dead-letter role assignments.
DEPLOYMENT_EVENT_ACTIONS = (
    "Microsoft.EventGrid/systemTopics/write",
    "Microsoft.EventGrid/systemTopics/read",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/write",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions/read",
    "Microsoft.Authorization/roleAssignments/write",
)

_READS: tuple[Feature, ...] = (
    Feature(
        "discovery",
        SUBSCRIPTION,
        "List Web PubSub resources, read each one's SKU, allowed unit counts and hubs (event handlers).",
        actions=(
            "Microsoft.SignalRService/WebPubSub/read",
            "Microsoft.SignalRService/WebPubSub/skus/read",
            "Microsoft.SignalRService/WebPubSub/hubs/read",
        ),
    ),
    Feature(
        "replicas",
        SUBSCRIPTION,
        "List the replicas of each Premium resource (their region, SKU and units); their metrics come with "
        "the metrics right.",
        actions=("Microsoft.SignalRService/WebPubSub/replicas/read",),
    ),
    Feature(
        "keys",
        SUBSCRIPTION,
        "Read access keys (listKeys, a POST) to compare them with the connection strings in Key Vault. "
        "Never regenerates keys.",
        actions=("Microsoft.SignalRService/WebPubSub/listkeys/action",),
    ),
    Feature(
        "metrics",
        SUBSCRIPTION,
        "Read connection, load and close metrics through the batch metrics API (metrics:getBatch).",
        actions=("Microsoft.Insights/metrics/read",),
    ),
    Feature(
        "logs",
        SUBSCRIPTION,
        "Query the Web PubSub resource-log tables (only those) in the workspaces the resources send logs to.",
        actions=(
            "Microsoft.OperationalInsights/workspaces/read",
            "Microsoft.OperationalInsights/workspaces/query/read",
            # Queries go to the workspace (collect/logs.py), so the workspace's per-table actions
            # apply; Microsoft.Insights/logs/* publishes no Web PubSub table.
            *(f"Microsoft.OperationalInsights/workspaces/query/{t}/read" for t in LOG_TABLES),
        ),
    ),
    Feature(
        "diagnostics",
        SUBSCRIPTION,
        "Read each resource's diagnostic settings: which workspace it logs to, or that it is blind.",
        actions=(
            "Microsoft.Insights/diagnosticSettings/read",
            # Both are published; UNCONFIRMED which one ARM checks for {resourceId}/providers/
            # Microsoft.Insights/diagnosticSettings, so both (read-only) are granted.
            "Microsoft.SignalRService/WebPubSub/providers/Microsoft.Insights/diagnosticSettings/read",
        ),
    ),
    Feature(
        "autoscale",
        SUBSCRIPTION,
        "Read autoscale settings: a resource with one is never scaled by the watchdog.",
        actions=("Microsoft.Insights/autoscalesettings/read",),
    ),
    Feature(
        "alert-rules",
        SUBSCRIPTION,
        "List the subscription's metric alert rules (one list per sweep): posture/no-alerts.",
        actions=("Microsoft.Insights/MetricAlerts/Read",),
    ),
    Feature(
        "sites",
        SUBSCRIPTION,
        "List the subscription's App Service and Function apps (one list, kept 6 h): the region an event "
        "handler runs in (upstream/cross-region).",
        actions=("Microsoft.Web/sites/Read",),
    ),
    Feature(
        "activity-log",
        SUBSCRIPTION,
        "Read the activity log to notice changed hubs, event handlers and diagnostic settings; "
        "without it every sweep re-reads them for every resource (two ARM reads each).",
        actions=("Microsoft.Insights/eventtypes/values/read",),
    ),
    Feature(
        "consumers",
        SUBSCRIPTION,
        "List App Service / Function apps and read the status of their Key Vault references (reference "
        "text, resolved version, status; never the settings' values) to find the apps reading a bound secret.",
        # GET .../sites and GET {site}/config/configreferences/appsettings (a sites/config read).
        actions=("Microsoft.Web/sites/Read", "Microsoft.Web/sites/config/Read"),
    ),
    Feature(
        "secrets-read",
        KEY_VAULT,
        "Read the secrets bound to resources (and their tags, versions and expiry) in the given vaults.",
        data_actions=(
            "Microsoft.KeyVault/vaults/secrets/getSecret/action",
            "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        ),
    ),
)
_EVENTS = Feature(
    "events-dead-letter",
    OWN_STORAGE,
    "Event Grid system topics (their own identities, not the app's) write events the events function could "
    "not take to the dead-letter container; on that container only. Deployed with enableEvents.",
    roles=(EVENT_DEAD_LETTER_ROLE,),
)
_LEDGER = Feature(
    "ledger",
    OWN_STORAGE,
    "Functions host state, the deployment package and the ledger tables, on the watchdog's own "
    "storage account only.",
)
# The rights each registered remediation declares beside its code (scale and scale-in share one row).
_REMEDIATIONS = tuple({f.name: f for r in remediations() for f in r.permissions}.values())
FEATURES: tuple[Feature, ...] = (*_READS, *_REMEDIATIONS, _LEDGER, _EVENTS)
# Features that write; left out when the deployment parameter reportOnly is true.
WRITE_FEATURES = tuple(f.name for f in FEATURES if f.writes)

def features(report_only: bool = False) -> tuple[Feature, ...]:
    """The features a deployment has rights for. Report-only leaves out the writing ones."""
    return tuple(f for f in FEATURES if not (report_only and f.writes))


def _unique(items) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.lower(), item)
    return tuple(sorted(seen.values(), key=str.lower))


def role_actions(report_only: bool = False) -> tuple[str, ...]:
    """Exactly the actions of the custom role at subscription scope (sorted, case-insensitively unique)."""
    return _unique(a for f in features(report_only) if f.scope == SUBSCRIPTION for a in f.actions)


def role_data_actions(report_only: bool = False) -> tuple[str, ...]:
    """Data actions of the custom role: none; data-plane rights come from built-in roles on their scope."""
    return _unique(a for f in features(report_only) if f.scope == SUBSCRIPTION for a in f.data_actions)


def vault_data_actions(report_only: bool = False) -> tuple[str, ...]:
    """Key Vault data actions the watchdog uses on each vault given to the deployment."""
    return _unique(a for f in features(report_only) if f.scope == KEY_VAULT for a in f.data_actions)


def vault_role(report_only: bool = False) -> BuiltInRole:
    return VAULT_ROLE_REPORT_ONLY if report_only else VAULT_ROLE_FULL


def grants(granted: str, wanted: str) -> bool:
    """True when a granted action (possibly with `*` wildcards) covers the wanted action."""
    import fnmatch

    return fnmatch.fnmatchcase(wanted.lower(), granted.lower())


_SCOPE_TEXT = {
    SUBSCRIPTION: "subscription (custom role)",
    KEY_VAULT: "each vault in `keyVaultResourceIds`",
    OWN_STORAGE: "its own storage account",
}


def markdown_table() -> str:
    """The README's table of every right the watchdog holds and why."""
    rows = [
        "| Feature | Scope | Actions / data actions | Why | Report-only |",
        "|---|---|---|---|---|",
    ]
    for f in FEATURES:
        rights = [f"`{a}`" for a in f.actions] + [f"`{a}` (data)" for a in f.data_actions]
        if f.scope == KEY_VAULT:
            rights.append(f"granted by {VAULT_ROLE_FULL.name} ({VAULT_ROLE_REPORT_ONLY.name} when report-only)")
        if f.scope == OWN_STORAGE:
            rights.extend(r.name for r in (f.roles or STORAGE_ROLES))
        kept = "no" if f.writes else "yes"
        rows.append(
            f"| {f.name} | {_SCOPE_TEXT[f.scope]} | {'<br>'.join(rights)} | {f.why.replace('|', '/')} | {kept} |"
        )
    return "\n".join(rows)
