"""Render a customer's inventory for the tools around uniform (docs/export.md).

One module per format, each a pure function of the inventory: ``ansible.render`` (a YAML
inventory), ``prometheus.render`` (``file_sd`` JSON), ``ssh_config.render`` and
``ssh_config.known_hosts`` (an OpenSSH client config and its pinned keys), ``csv_table.render``
(a spreadsheet).  ``common.select`` picks the machines (each format has its default states);
``common.pinned_keys`` the host keys pinned (``ssh.host_keys``, else the ones uniform made).
Nothing here reads or writes files; ``cli/exports.py`` does.
"""

from __future__ import annotations

from .common import DEFAULT_STATES, ExportError, Selection, pinned_keys, select, wants_made_keys

__all__ = [
    "DEFAULT_STATES",
    "FORMATS",
    "ExportError",
    "Selection",
    "pinned_keys",
    "select",
    "wants_made_keys",
]

#: the formats, as ``uniform export`` names them
FORMATS = ("ansible", "prometheus", "ssh", "csv")
