"""Adopt what already runs, and feed the tools around uniform.

``interop.parse`` reads live configuration (dnsmasq, ISC dhcpd, Kea, BIND zones, libvirt
domain XML) into the plain records of ``interop.records``; ``interop.merge`` matches them
against a customer's inventory and reports conflicts with file and line; the write goes
through ``inventory.edit`` like every other edit. ``interop.export`` renders the inventory
for Ansible, Prometheus, ``ssh`` and spreadsheets.

Floor 2: imports ``inventory`` only (docs/architecture.md).
"""
