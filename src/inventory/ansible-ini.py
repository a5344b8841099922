# Reads one INI inventory with ansible-core's own INI parser and prints what Ansible made of it, as
# JSON on stdout (ansible-ini.ts runs it with ansible-inventory's interpreter: argv[1] is the file).
#
# Only the INI plugin runs, called here directly: no other inventory plugin is tried (a script is
# never executed, a YAML file never re-read), and InventoryManager.parse_sources() is not called,
# so no vars plugin runs either (group_vars/ and host_vars/ next to the file are not read, nothing is
# decrypted: the DataLoader has no vault secret). ansible-ini.ts also points ANSIBLE_CONFIG at an
# empty file, so no ansible.cfg can switch anything back on.
#
# This uses InventoryManager's private _inventory (the InventoryData the plugins fill), stable since
# ansible-core 2.4; an import or attribute that is missing is reported as "unsupported", never as a
# traceback.
import json
import math
import sys


def emit(result):
    sys.stdout.write(json.dumps(result))
    sys.exit(0)


try:
    from ansible.errors import AnsibleError
    from ansible.inventory.helpers import sort_groups
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.inventory.ini import InventoryModule
    from ansible.release import __version__
    from ansible.utils.display import Display

    manager = InventoryManager(DataLoader(), parse=False)
    inventory, loader = manager._inventory, manager._loader
    plugin = InventoryModule()
except Exception as e:  # an ansible-core this does not know
    emit({'unsupported': '%s: %s' % (type(e).__name__, e)})

# the parser's warnings (a group and a host of one name, odd characters in group names), kept for
# runbook to show, each once (as Display shows them)
warnings = []


def warn(self, msg, *args, **kwargs):
    if str(msg) not in warnings:
        warnings.append(str(msg))


Display.warning = warn

# values JSON cannot carry: a set, a complex number, an int past 2**53 ... (ast.literal_eval makes them)
problems = []


def plain(value, where):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if abs(value) <= 9007199254740991:
            return value
        problems.append({'where': where, 'type': 'int', 'text': str(value)})
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return dict((k, plain(v, where)) for k, v in value.items())
    problems.append({'where': where, 'type': type(value).__name__, 'text': repr(value)[:80]})
    return None


try:
    plugin.parse(inventory, loader, sys.argv[1], cache=False)
    manager.reconcile_inventory()
except AnsibleError as e:
    emit({'error': str(e), 'version': __version__})
except Exception as e:
    emit({'error': '%s: %s' % (type(e).__name__, e), 'version': __version__})

# set by add_host for every host (the source it came from): Ansible's own bookkeeping, not the file's
INTERNAL = ('inventory_file', 'inventory_dir')
emit({
    'version': __version__,
    # inventory.hosts order: the order Ansible first met them (globs and regexes list hosts in it)
    'hosts': [{
        'name': h.name,
        'vars': dict((k, plain(v, ['host', h.name, k])) for k, v in h.vars.items() if k not in INTERNAL),
        # every group of the host, ancestors included, in the order its variables are merged
        'groups': [g.name for g in sort_groups(h.get_groups())],
    } for h in manager.hosts.values()],
    # inventory.groups order, each with its own variables, its own hosts and its child groups, in order
    'groups': [{
        'name': g.name,
        'vars': dict((k, plain(v, ['group', g.name, k])) for k, v in g.vars.items()),
        'hosts': [h.name for h in g.hosts],
        'children': [c.name for c in g.child_groups],
    } for g in manager.groups.values()],
    'warnings': warnings,
    'problems': problems,
})
