"""The root CLI registers a command's domains only when the command is named: each command,
registered alone, must be the command the whole tree has (same subcommands and options), with
the same hooks plugged into the modules it loaded; start-up loads no domain's commands."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a fresh interpreter: the test process has usually loaded every command already.
# Each group of commands sharing their registration steps is registered alone in a process
# forked from one that has imported only the root (`maxtasksperchild=1`: never reused).
_SCRIPT = r"""
import json, multiprocessing, sys
import leadsift.cli as cli

HOOK_LISTS = {
    "leadsift.contacts.cli": "_after_import",
    "leadsift.qualification.cli": "_after_moves",
    "leadsift.outreach.cli": "_maintenance",
}
LAZY = [m for m in (*HOOK_LISTS, "leadsift.scoring.cli", "leadsift.agents.cli") if m in sys.modules]

def describe(command):
    found = {"params": sorted(p.name or "" for p in command.params)}
    subs = getattr(command, "commands", None)
    if subs is not None:
        found["commands"] = {name: describe(sub) for name, sub in sorted(subs.items())}
    return found

def hooks():
    return {m: len(getattr(sys.modules[m], a)) for m, a in HOOK_LISTS.items() if m in sys.modules}

def registered(names):
    root = cli._LazyGroup(name="leadsift")
    return {n: describe(root.get_command(None, n)) for n in names}, hooks()

groups = {}
for name, steps in cli._STEPS.items():
    groups.setdefault(tuple(id(s) for s in steps), []).append(name)
with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
    alone = pool.map(registered, list(groups.values()))
cli.load_all()
whole, whole_hooks = registered(list(cli._STEPS))
problems = []
for (commands, loaded_hooks) in alone:
    for name, tree in commands.items():
        if tree != whole[name]:
            problems.append(f"{name}: registered alone differs from the whole tree")
    for module, count in loaded_hooks.items():
        if count != whole_hooks[module]:
            problems.append(f"{module}: {count} hooks alone, {whole_hooks[module]} in all")
print(json.dumps({"lazy_at_start": LAZY, "problems": problems, "groups": len(groups),
                  "commands": len(whole), "hooks": whole_hooks}))
"""


def test_each_command_registered_alone_is_the_whole_trees_command() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["lazy_at_start"] == []  # importing the root loads no domain's commands
    assert report["problems"] == []
    assert report["commands"] == 34
    # Every hook the root plugs in: scoring after an import, assignment after moves, the
    # worker's three upkeep jobs.
    assert report["hooks"] == {
        "leadsift.contacts.cli": 1,
        "leadsift.qualification.cli": 1,
        "leadsift.outreach.cli": 3,
    }


def test_a_mistyped_command_is_suggested_among_commands_not_yet_loaded() -> None:
    code = "import sys; from leadsift.cli import main; sys.exit(main(['modle', 'train']))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert "No such command 'modle'. Did you mean 'model'?" in done.stderr
