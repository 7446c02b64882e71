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


def test_requests_and_margins_do_not_import_torch():
    """The editor builds requests on its GUI thread, where importing torch would freeze it."""
    code = (
        "import sys\n"
        "from portrait_editor.pipeline import CompletionRequest, Margins\n"
        "import numpy as np\n"
        "CompletionRequest(image=np.zeros((4, 4, 3), np.uint8), margins=Margins(1, 0, 0, 0))\n"
        "assert 'torch' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
