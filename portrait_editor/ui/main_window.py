"""The main window: actions, menus, bars and docks, and the wiring between them.

Editing lives in the tools and commands, drawing in the canvas, running in ``runs.py``, files in
``files.py``, widgets in ``panels/``; what is here is what the user can *do* and where to find it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import qtawesome as qta
from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .. import imageio
from .canvas import Canvas
from .commands import MASK, PARSING, InvertMaskCommand, SetMarginsCommand, mask_command
from .engine import Engine
from .files import FileController
from .help import ShortcutsDialog
from .panels.banner import MessageBanner
from .panels.dialogs import ask_grow, ask_margins
from .panels.history import HistoryPanel
from .panels.legend import LegendPanel
from .panels.progress import RunProgress
from .panels.settings import EditorSettings, SettingsDialog
from .panels.tool_options import ToolOptionsBar
from .panels.welcome import WelcomePage
from .runs import RunController
from .tools import Tool, ToolOptions, tool_classes
from .tools.paint import grow_mask

APP_NAME = "Portrait Editor"


def key_sequences(*keys: str | QKeySequence.StandardKey) -> list[QKeySequence]:
    """Key sequences without duplicates; a standard key brings all of the platform's bindings."""
    out: list[QKeySequence] = []
    for k in keys:
        for seq in QKeySequence.keyBindings(k) if isinstance(k, QKeySequence.StandardKey) else [QKeySequence(k)]:
            if not seq.isEmpty() and seq not in out and _on_a_keyboard(seq):
                out.append(seq)
    return out


def _on_a_keyboard(seq: QKeySequence) -> bool:
    """Leave out the platform's media-key and F13+ bindings ("Open", "Undo", F14...)."""
    key = seq[0].key()
    return not (Qt.Key.Key_F13.value <= key.value <= Qt.Key.Key_F35.value or key.value >= Qt.Key.Key_Back.value)


class MainWindow(QMainWindow):
    def __init__(self, store: QSettings | None = None, engine: Engine | None = None) -> None:
        super().__init__()
        self.store = store if store is not None else QSettings()
        self.settings = EditorSettings.load(self.store)
        self.engine = engine if engine is not None else Engine()
        self.undo_stack = QUndoStack(self)
        self.options = ToolOptions(size=self.settings.brush_size)
        self.canvas = Canvas()
        self.progress = RunProgress()
        self.runs = RunController(self.engine, self.canvas, self.undo_stack, self.progress, self)
        self.runs.settings = self.settings  # read at each run (the detail stage); edited in place
        self.files = FileController(self, self.canvas, self.undo_stack, self.settings, self.runs.accept)
        self.session_weights: str | None = None
        self.session_device: str | None = None
        """Command-line choices for this session only (never saved to the settings)."""

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self._build_actions()
        self._build_tools()
        self._build_central()
        self._build_menus()
        self._build_toolbars()
        self._build_docks()
        self._build_status()
        self._connect()
        self._apply_settings()
        self._update_actions()
        geometry = self.store.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    @property
    def document(self):
        return self.canvas.document

    @property
    def label_set(self):
        return self.canvas.label_set

    # == construction ==========================================================================
    def _action(self, name: str, text: str, slot: Callable | None = None, *, icon: str = "",
                keys: tuple[str | QKeySequence.StandardKey, ...] = (), tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if icon:
            action.setIcon(qta.icon(icon))
        if keys:
            action.setShortcuts(key_sequences(*keys))
        if tip:
            action.setStatusTip(tip)
            title = text.replace("&", "").rstrip("…")
            if keys:
                title += f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
            action.setToolTip(f"{title}\n{tip}")
        action.setCheckable(checkable)
        if slot is not None:
            (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)  # shortcuts work whichever widget has focus
        self.actions_by_name[name] = action
        return action

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        a = self._action
        K = QKeySequence.StandardKey
        # File
        a("open", "&Open…", self.files.open_dialog, icon="mdi6.folder-open", keys=(K.Open,),
          tip="Open a JPEG, PNG, TIFF or WebP photo")
        a("open_sample", "Open &sample portrait", self.files.open_sample, icon="mdi6.account-box",
          tip="A public-domain portrait to try the editor on")
        a("save", "&Save", self.files.save, icon="mdi6.content-save", keys=(K.Save,),
          tip="Save the photo (asks before overwriting the original)")
        a("save_as", "Save &As / Export…", self.files.save_as, icon="mdi6.content-save-edit", keys=("Ctrl+Shift+S",),
          tip="Save under a new name, choosing the format and quality")
        a("import_mask", "&Import mask…", self.files.import_mask, icon="mdi6.import",
          tip="Load a mask drawn elsewhere (white = fill)")
        a("export_mask", "E&xport mask…", self.files.export_mask, icon="mdi6.export", tip="Save the mask as a PNG")
        a("load_parsing", "&Load parsing…", self.files.load_parsing, icon="mdi6.folder-open-outline",
          tip="Load a parsing map (8-bit label ids) to guide the completion")
        a("save_parsing", "Save &parsing…", self.files.save_parsing, icon="mdi6.content-save-outline",
          tip="Save the parsing map as an 8-bit PNG of label ids")
        a("settings", "Se&ttings…", self.show_settings, icon="mdi6.cog", keys=(K.Preferences, "Ctrl+,"))
        a("quit", "&Quit", self.close, keys=(K.Quit,))
        # Edit
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setIcon(qta.icon("mdi6.undo"))
        undo.setShortcuts(key_sequences(K.Undo))
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setIcon(qta.icon("mdi6.redo"))
        redo.setShortcuts(key_sequences("Ctrl+Shift+Z", K.Redo, "Ctrl+Y"))
        for name, action in (("undo", undo), ("redo", redo)):
            action.setObjectName(name)
            action.setProperty("helpText", name.capitalize())  # its text names the step it undoes
            self.addAction(action)
            self.actions_by_name[name] = action
        a("clear_mask", "&Clear mask", self.clear_mask, icon="mdi6.selection-off", keys=("Delete",))
        a("invert_mask", "&Invert mask", self.invert_mask, icon="mdi6.select-inverse", keys=("Ctrl+I",))
        a("grow_mask", "&Grow or shrink mask…", self.grow_mask, icon="mdi6.arrow-expand")
        a("margins", "Canvas &margins…", self.edit_margins, icon="mdi6.image-size-select-large",
          keys=("Ctrl+Shift+M",), tip="Type the margins to add around the photo")
        a("brush_smaller", "Smaller brush", self.options.shrink, keys=("[",))
        a("brush_bigger", "Bigger brush", self.options.grow, keys=("]",))
        # View
        a("zoom_in", "Zoom &in", self.canvas.zoom_in, icon="mdi6.magnify-plus", keys=(K.ZoomIn, "Ctrl+="))
        a("zoom_out", "Zoom &out", self.canvas.zoom_out, icon="mdi6.magnify-minus", keys=(K.ZoomOut,))
        a("fit", "&Fit to window", self.canvas.fit, icon="mdi6.fit-to-screen", keys=("Ctrl+0",))
        a("actual_size", "&Actual size (100%)", self.canvas.actual_size, icon="mdi6.numeric-1-box",
          keys=("Ctrl+1",))
        a("show_mask", "Show &mask", self.canvas.set_mask_visible, icon="mdi6.eye", keys=("H",),
          checkable=True, tip="Show the mask over the photo")
        a("show_parsing", "Show &parsing", self.canvas.set_parsing_visible, icon="mdi6.layers", keys=("O",),
          checkable=True, tip="Show the parsing map as coloured labels")
        a("show_original", "Show &original", self.canvas.set_show_original, icon="mdi6.compare",
          checkable=True, tip="Show the photo without the result (or hold \\ over the canvas)")
        # Run
        a("run", "&Run", lambda: self.runs.run(), icon="mdi6.play", keys=("Ctrl+R", "F5"),
          tip="Fill the mask and the margins (an edited parsing map is used as it is)")
        a("rerun_parsing", "Re-run with &edited parsing", lambda: self.runs.run(use_parsing=True),
          icon="mdi6.play-circle", keys=("Ctrl+Shift+R",),
          tip="Complete again using the parsing map as shown (skips the parsing stage)")
        a("cancel", "&Cancel", self.cancel, icon="mdi6.stop", keys=("Esc",), tip="Stop the running completion")
        a("accept", "&Accept result", self.runs.accept, icon="mdi6.check", keys=("Return", "Enter"),
          tip="Make the result the photo to keep editing")
        a("discard", "&Discard result", self.runs.discard, icon="mdi6.close", keys=("Backspace",),
          tip="Throw the result away")
        # Help
        a("shortcuts", "&Keyboard shortcuts", self.show_shortcuts, icon="mdi6.keyboard", keys=(K.HelpContents, "F1"))
        a("about", "&About", self.show_about, icon="mdi6.information")

    def _build_tools(self) -> None:
        self.tools: dict[str, Tool] = {}
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusive(True)
        for cls in tool_classes():
            tool = cls(self.canvas, self.undo_stack, self.options)
            self.tools[tool.name] = tool
            action = self._action(f"tool_{tool.name}", tool.text, icon=tool.icon, keys=(tool.shortcut,),
                                  tip=tool.tip, checkable=True)
            action.setData(tool.name)
            self.tool_group.addAction(action)
        self.tool_group.triggered.connect(lambda action: self.select_tool(action.data()))

    def _build_central(self) -> None:
        self.banner = MessageBanner()
        self.welcome = WelcomePage([self.actions_by_name["open"], self.actions_by_name["open_sample"]])
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.canvas)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        act = self.actions_by_name

        def menu(title: str, names: list[str | None]):
            m = bar.addMenu(title)
            for name in names:
                if name is None:
                    m.addSeparator()
                else:
                    m.addAction(act[name])
            return m

        file_menu = menu("&File", ["open", "open_sample"])
        self.recent_menu = file_menu.addMenu(qta.icon("mdi6.history"), "Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        for name in (None, "save", "save_as", None, "import_mask", "export_mask", None, "load_parsing",
                     "save_parsing", None, "settings", None, "quit"):
            file_menu.addSeparator() if name is None else file_menu.addAction(act[name])
        menu("&Edit", ["undo", "redo", None, "clear_mask", "invert_mask", "grow_mask", None, "margins",
                       None, "brush_smaller", "brush_bigger"])
        self.view_menu = menu("&View", ["zoom_in", "zoom_out", "fit", "actual_size", None, "show_mask",
                                        "show_parsing", "show_original"])
        menu("&Tools", [f"tool_{name}" for name in self.tools])
        menu("&Run", ["run", "rerun_parsing", "cancel", None, "accept", "discard"])
        menu("&Help", ["shortcuts", "about"])

    def _build_toolbars(self) -> None:
        act = self.actions_by_name
        main = self.addToolBar("Main")
        main.setObjectName("main_toolbar")
        main.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for name in ("open", "save", None, "undo", "redo", None, "run", "cancel", None, "show_original"):
            main.addSeparator() if name is None else main.addAction(act[name])
        for name in ("undo", "redo"):  # their text changes with every step: keep the bar steady
            main.widgetForAction(act[name]).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, 100)
        self.split_slider.setValue(100)
        self.split_slider.setFixedWidth(220)
        self.split_slider.setToolTip("Compare: the result is shown left of the divider, the original right")
        self.split_slider.valueChanged.connect(lambda v: self.canvas.set_split(v / 100))
        main.addWidget(QLabel(" Split "))
        main.addWidget(self.split_slider)
        for name in (None, "accept", "discard", None, "fit"):
            main.addSeparator() if name is None else main.addAction(act[name])

        tools = self.addToolBar("Tools")
        tools.setObjectName("tools_toolbar")
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)
        for name in self.tools:
            if name in ("expand", "label_brush"):  # mask tools | canvas | parsing tools
                tools.addSeparator()
            tools.addAction(act[f"tool_{name}"])
        self.addToolBarBreak()
        self.tool_options = ToolOptionsBar(self.options)
        self.tool_options.set_label_set(self.label_set)
        self.addToolBar(self.tool_options)

    def _build_docks(self) -> None:
        act = self.actions_by_name
        self.legend = LegendPanel(self.options, [act["rerun_parsing"], act["load_parsing"], act["save_parsing"]])
        self.legend.bind(self.canvas)
        self.history = HistoryPanel(self.undo_stack)
        for title, name, widget in (("Parsing", "legend_dock", self.legend), ("History", "history_dock", self.history)):
            dock = QDockWidget(title, self)
            dock.setObjectName(name)
            dock.setWidget(widget)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
            self.view_menu.addAction(dock.toggleViewAction())

    def _build_status(self) -> None:
        status = self.statusBar()
        self.progress.set_action(self.actions_by_name["cancel"])
        self.position_label = QLabel()
        self.zoom_label = QLabel()
        self.size_label = QLabel()
        self.engine_label = QLabel()
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.engine_label)
        self.position_label.setMinimumWidth(110)
        for label in (self.size_label, self.zoom_label):
            label.setMinimumWidth(60)
            status.addPermanentWidget(label)

    def _connect(self) -> None:
        c = self.canvas
        c.documentEdited.connect(self._on_edited)
        c.overlaysChanged.connect(self._update_actions)
        c.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 5000))
        c.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f}%"))
        c.cursorMoved.connect(self._show_position)
        self.undo_stack.cleanChanged.connect(lambda clean: self.setWindowModified(not clean))
        self.undo_stack.indexChanged.connect(lambda _: self._update_actions())
        self.options.sizeChanged.connect(lambda _: self._refresh_brush_outline())
        self.files.documentOpened.connect(self.set_document)
        self.files.pathChanged.connect(self._update_title)
        for source in (self.files, self.runs):
            source.message.connect(self.statusBar().showMessage)
            source.error.connect(self.banner.show_message)
        self.runs.note.connect(lambda text: self.banner.show_message(text, "info", 6000))
        self.runs.changed.connect(self._update_actions)
        self.runs.engineState.connect(self._show_engine_state)
        self.engine.labelSetLoaded.connect(self.set_label_set)

    def _apply_settings(self) -> None:
        s = self.settings
        self.canvas.set_mask_colour(QColor(s.mask_colour))
        self.canvas.set_margin_colour(QColor(s.margin_colour))
        self.canvas.set_parsing_opacity(s.parsing_opacity)
        self.legend.sync()

    # == engine and documents ==================================================================
    def start_engine(self) -> None:
        """Load the networks in the engine's thread (call once the window is visible)."""
        weights = self.session_weights or self.settings.weights_dir or None
        self.runs.start_engine(weights, self.session_device or self.settings.device)

    @Slot(object)
    def set_label_set(self, label_set) -> None:
        """Name and colour the parsing ids as the loaded weights define them (legend, overlay,
        label tools)."""
        if label_set == self.label_set:
            return
        self.options.label = label_set.id("hair") if label_set.has("hair") else 0
        self.canvas.set_label_set(label_set)
        self.tool_options.set_label_set(label_set)
        self.legend.set_label_set(label_set)

    def _show_engine_state(self, text: str, tip: str) -> None:
        self.engine_label.setText(text)
        self.engine_label.setToolTip(tip)
        if text != "Models: none" and self.banner.kind == "error" and "networks" in self.banner.message():
            self.banner.hide()

    def open_path(self, path: str | Path) -> None:
        """Open a photo (in the background; the current one stays until it has loaded)."""
        self.files.open_path(path)

    @Slot(object)
    def set_document(self, document) -> None:
        self.runs.forget()
        self.undo_stack.clear()
        self.banner.hide()
        # Show the canvas page first: a hidden page still has its default size, and the fit
        # in set_document uses the viewport's size.
        self.pages.setCurrentWidget(self.canvas)
        self.pages.layout().activate()
        self.canvas.set_document(document)
        self.history.set_photo_open(document is not None)
        self.canvas.setFocus()
        if self.canvas.tool() is None:
            self.select_tool("brush")
        self._update_title()
        self._update_actions()

    def _update_title(self) -> None:
        doc = self.document
        name = doc.source.path.name if doc is not None and doc.source.path else "untitled"
        if self.files.save_path is not None:
            name = self.files.save_path.name
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")
        self.setWindowModified(not self.undo_stack.isClean())
        if doc is not None:
            w, h = doc.canvas_size
            self.size_label.setText(f"{w} x {h}")

    # == mask and margins ======================================================================
    def _push(self, command) -> None:
        if command is not None:
            self.undo_stack.push(command)

    def clear_mask(self) -> None:
        if self.document is not None:
            self._push(mask_command(self.canvas, np.zeros_like(self.document.mask), "Clear mask"))

    def invert_mask(self) -> None:
        if self.document is not None:
            self._push(InvertMaskCommand(self.canvas))
            self.canvas.set_mask_visible(True)

    def grow_mask(self) -> None:
        if self.document is not None and (pixels := ask_grow(self)) is not None:
            text = f"Grow mask {pixels} px" if pixels > 0 else f"Shrink mask {-pixels} px"
            self._push(mask_command(self.canvas, grow_mask(self.document.mask, pixels), text))
            self.canvas.set_mask_visible(True)

    def edit_margins(self) -> None:
        doc = self.document
        if doc is None:
            return
        values = ask_margins(self, tuple(doc.margins), doc.size)
        if values is not None and values != tuple(doc.margins):
            t, r, b, left = values
            self._push(SetMarginsCommand(self.canvas, dataclasses.replace(doc.margins, top=t, right=r, bottom=b,
                                                                          left=left)))

    def cancel(self) -> None:
        """Esc: abandon the gesture in progress and stop the run."""
        tool = self.canvas.tool()
        if tool is not None:
            tool.cancel()
        self.runs.cancel()

    # == tools =================================================================================
    def select_tool(self, name: str) -> None:
        tool = self.tools[name]
        self.actions_by_name[f"tool_{name}"].setChecked(True)
        self.canvas.set_tool(tool)
        if tool.needs_parsing and self.document is not None and self.document.parsing is not None:
            self.canvas.set_parsing_visible(True)
        elif not tool.needs_parsing and tool.name != "expand":
            self.canvas.set_mask_visible(True)
        self.tool_options.show_for(tool)

    def _refresh_brush_outline(self) -> None:
        tool = self.canvas.tool()
        if tool is not None and tool.uses_brush:
            self.canvas.hide_previews()
            self.statusBar().showMessage(f"Brush {self.options.size} px", 2000)

    # == reacting to edits =====================================================================
    @Slot(str)
    def _on_edited(self, part: str) -> None:
        if part in ("margins", "base", PARSING, "result"):
            self._update_title()
            self._update_actions()
        if part == MASK and self.document is not None and not self.canvas.mask_visible():
            self.canvas.set_mask_visible(True)

    def _update_actions(self) -> None:
        doc = self.document
        has_doc = doc is not None
        has_result = has_doc and doc.result is not None
        has_parsing = has_doc and doc.parsing is not None
        running = self.runs.running
        act = self.actions_by_name
        for name in ("save", "save_as", "import_mask", "export_mask", "load_parsing", "clear_mask",
                     "invert_mask", "grow_mask", "margins", "run", "zoom_in", "zoom_out", "fit",
                     "actual_size", "show_mask", "show_parsing"):
            act[name].setEnabled(has_doc)
        act["rerun_parsing"].setEnabled(has_parsing)
        act["save_parsing"].setEnabled(has_parsing)
        act["cancel"].setEnabled(running)
        for name in ("accept", "discard", "show_original"):
            act[name].setEnabled(has_result)
        self.split_slider.setEnabled(has_result)
        for name, tool in self.tools.items():
            act[f"tool_{name}"].setEnabled(has_doc and (has_parsing or not tool.needs_parsing))
        current = self.canvas.tool()
        if current is not None and not act[f"tool_{current.name}"].isEnabled() and has_doc:
            self.select_tool("brush")
        for name, checked in (("show_mask", self.canvas.mask_visible()),
                              ("show_parsing", self.canvas.parsing_visible()),
                              ("show_original", self.canvas.showing_original())):
            act[name].blockSignals(True)
            act[name].setChecked(checked)
            act[name].blockSignals(False)

    def _show_position(self, position) -> None:
        if position is None or self.document is None:
            self.position_label.setText("")
            return
        x, y = position
        self.position_label.setText(f"x {x}, y {y}")

    # == dialogs ===============================================================================
    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        old = dataclasses.replace(self.settings)
        for name, value in dataclasses.asdict(dialog.values()).items():
            setattr(self.settings, name, value)  # the same object: the file controller holds it
        self._apply_settings()
        self.settings.save(self.store)
        if (old.weights_dir, old.device) != (self.settings.weights_dir, self.settings.device):
            self.session_weights = self.session_device = None  # the user chose anew
            self.start_engine()

    def show_shortcuts(self) -> None:
        actions = [a for a in self.actions_by_name.values() if a.shortcuts()]
        ShortcutsDialog(actions, self).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", (
            f"<b>{APP_NAME}</b><p>Repairs portraits: removes occluders and extends the canvas with "
            "a parsing-guided completion network (after Wu et al., <i>Deep Portrait Image Completion "
            "and Extrapolation</i>, IEEE TIP 2019).</p><p>Sample portrait: NASA (public domain).</p>"))

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.files.open_path(p))
        if not self.settings.recent_files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # == window events =========================================================================
    def dragEnterEvent(self, event) -> None:
        if any(imageio.is_supported(url.toLocalFile()) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if imageio.is_supported(url.toLocalFile()):
                event.acceptProposedAction()
                self.files.open_path(url.toLocalFile())
                return

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.can_discard(then=self.close):
            event.ignore()
            return
        self.store.setValue("window/geometry", self.saveGeometry())
        self.settings.brush_size = self.options.size
        self.settings.parsing_opacity = self.canvas.parsing_opacity()
        self.settings.save(self.store)
        self.hide()  # closing feels instant even while the engine finishes its current stage
        self.engine.shutdown()
        self.files.shutdown()
        event.accept()
