"""Helpers shared by the editor's component tests."""


def edit_cell(table, row, column, value):
    """Edit one cell of a Tabulator as the browser would: a new frame with that value."""
    frame = table.value.copy()
    frame.loc[row, column] = value
    table.value = frame


def visible_alerts(editor):
    """Names of the editor sections whose error alert is showing."""
    return {name for name, alert in editor.alerts.items() if alert.visible}
