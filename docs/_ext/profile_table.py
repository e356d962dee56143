"""``.. blocked-syscalls::`` renders the default seccomp profile's BLOCKED table.

The reasons live once, next to the rules, in minicontainer/default_profile.py.
"""

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


class BlockedSyscalls(SphinxDirective):
    def run(self):
        from minicontainer import default_profile

        table = nodes.table()
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=35)
        group += nodes.colspec(colwidth=65)
        head = nodes.thead()
        group += head
        head += self._row("blocked", "why")
        body = nodes.tbody()
        group += body
        for names, why in default_profile.BLOCKED.items():
            body += self._row(names, why)
        return [table]

    @staticmethod
    def _row(*cells):
        row = nodes.row()
        for text in cells:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            row += entry
        return row


def setup(app):
    app.add_directive("blocked-syscalls", BlockedSyscalls)
    return {"parallel_read_safe": True}
