

def select(window, qtbot, name):
    entry = next(e for e in window.library.entries if e.name == name)
    window.library.set_current(entry)
    qtbot.waitUntil(lambda: window.map.is_ready() and window.editor.is_ready(), timeout=180000)
    return entry
