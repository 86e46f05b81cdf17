"""The words of ``playbook check`` and ``playbook next`` that are not the engine's reasons."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "cli.allowed": {"en": "ALLOWED", "zh": "允许"},
    "cli.blocked": {"en": "BLOCKED", "zh": "不允许"},
    "cli.overridable": {
        "en": "can be overridden with a reason by: {roles}",
        "zh": "可由以下角色填写理由后越权放行：{roles}",
    },
    "cli.no_roles": {
        "en": "roles not checked (no --as given)",
        "zh": "未检查角色（未指定 --as）",
    },
    "cli.rule": {"en": "rule", "zh": "规则"},
    "cli.failed": {"en": "failed", "zh": "未满足"},
    "cli.values": {"en": "values", "zh": "当前值"},
    "cli.empty": {"en": "(empty)", "zh": "（空）"},
    "cli.in_stage": {"en": "{deal} is in {stage}", "zh": "商机 {deal} 当前阶段：{stage}"},
    "cli.open_actions": {"en": "Open actions:", "zh": "待完成事项："},
    "cli.no_open_actions": {"en": "No open actions.", "zh": "没有待完成事项。"},
    "cli.due": {"en": "due {due}", "zh": "截止 {due}"},
    "cli.overdue": {"en": "OVERDUE since {due}", "zh": "已逾期（{due}）"},
    "cli.missing": {"en": "Missing for {stage}:", "zh": "进入「{stage}」还缺："},
    "cli.fill_in": {"en": "fill in: {fields}", "zh": "待填写：{fields}"},
    "cli.moves": {"en": "Moves:", "zh": "可选推进："},
    "cli.no_moves": {
        "en": "No moves: this is a final stage.",
        "zh": "没有可选推进：这是终止阶段。",
    },
}
