"""The engine's reasons (PB541-PB547), one sentence per rule kind.

Stage, role, field and criterion names come from the playbook's labels in the
same language and are filled in once, when an engine is built; an open
action's ``{due}`` is filled in when its message is read.
"""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "reason.PB541": {
        "en": "{source} → {target} is not an allowed move; {options}",
        "zh": "不能从「{source}」推进到「{target}」；{options}",
    },
    "reason.PB541.options": {
        "en": "from {source} a deal can go to {targets}",
        "zh": "「{source}」可以推进到：{targets}",
    },
    "reason.PB541.final": {"en": "{source} is a final stage", "zh": "「{source}」是终止阶段"},
    "reason.PB542.stage": {
        "en": "only {roles} may move a deal into {target}",
        "zh": "只有{roles}可以将商机推进到「{target}」",
    },
    "reason.PB542.move": {
        "en": "only {roles} may move a deal from {source} to {target}",
        "zh": "只有{roles}可以将商机从「{source}」推进到「{target}」",
    },
    "reason.PB542.rule": {
        "en": "only {roles} may move a deal into {target} when {condition}",
        "zh": "当 {condition} 时，只有{roles}可以将商机推进到「{target}」",
    },
    "reason.PB543": {
        "en": "the move from {source} to {target} needs {condition}",
        "zh": "从「{source}」推进到「{target}」需满足：{condition}",
    },
    "reason.PB544": {"en": "cannot enter {target}: {what}", "zh": "无法进入「{target}」：{what}"},
    "reason.PB545": {
        "en": "required action {action} ({roles}) is not done",
        "zh": "必做事项「{action}」（{roles}）尚未完成",
    },
    "reason.PB545.due": {"en": "; due {due}", "zh": "，截止时间 {due}"},
    "reason.PB545.overdue": {"en": "; overdue since {due}", "zh": "，已于 {due} 逾期"},
    "reason.PB546": {"en": "cannot leave {source}: {what}", "zh": "无法离开「{source}」：{what}"},
    "reason.PB547": {"en": "the deal is already in {target}", "zh": "商机已处于「{target}」阶段"},
    # What a failing criterion asks for, the {what} of PB544 and PB546.
    "reason.criterion.fill": {"en": "fill in {fields}", "zh": "请填写{fields}"},
    "reason.criterion.title": {"en": "{title} is not met", "zh": "未满足「{title}」"},
    "reason.criterion.condition": {
        "en": "{condition} does not hold",
        "zh": "条件 {condition} 不成立",
    },
}
