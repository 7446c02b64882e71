import subprocess
import sys


def test_pipeline_imports_without_qt():
    code = (
        "import sys\n"
        "sys.modules['PySide6'] = None  # any 'import PySide6' now raises ImportError\n"
        "import portrait_editor.pipeline, portrait_editor.models, portrait_editor.cli, portrait_editor.imageio\n"
        "assert not any(m.startswith('PySide6') and sys.modules[m] is not None for m in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
