from datetime import UTC, datetime

import playbook
from playbook import Actor, Engine, MoveBlockedError, StageChanged

engine = Engine(playbook.load("playbooks/b2b-project-sales.yaml"))  # once per playbook version
deal = {
    "id": "D-1042",
    "stage": "needs_analysis",
    "stage_entered_at": "2026-03-02T09:30:00+08:00",
    "fields": {"amount": "1200000", "decision_maker": "王总", "industry": "energy"},
}
rep = Actor("li.na", "sales_rep")
now = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # the engine never reads the clock itself

decision = engine.check(deal, "solution", actor=rep, now=now)
for reason in decision.reasons:  # every reason, not only the first
    print(reason.code, reason.rule, f"line {reason.line}:", reason.text("zh"))

try:
    engine.advance(deal, "solution", actor=rep, now=now)
except MoveBlockedError as blocked:  # nothing was changed
    print("blocked:", ", ".join(blocked.decision.codes))

manager = Actor("wang.wei", "sales_manager")
moved = engine.advance(deal, "solution", actor=manager, now=now, override="Pilot approved by the GM")
change = moved.events[0]
assert isinstance(change, StageChanged)
print(moved.deal.stage, moved.deal.version, list(change.overridden))
