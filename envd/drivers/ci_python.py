# Cube code-interpreter kernel driver for Python, started by cube-ci (one per
# context). Protocol (see envd/ci_kernel.h): requests on fd 3, events on fd 4,
# one JSON object per line; the code's stdout/stderr are our fds 1 and 2.
import ast
import asyncio
import base64
import builtins
import inspect
import io
import json
import linecache
import os
import signal
import sys
import traceback
import warnings

_REQ_FD, _EV_FD = 3, 4
os.set_inheritable(_REQ_FD, False)
os.set_inheritable(_EV_FD, False)
_req = os.fdopen(_REQ_FD, "rb")
_ME = os.path.abspath(__file__)
_SIGINT = {signal.SIGINT}
# Whole lines reach cube-ci as one chunk ("hi\n", not "hi" then "\n"); the
# rest is flushed before each result and at the end of every execution.
for _s in (sys.stdout, sys.stderr):
    try:
        _s.reconfigure(line_buffering=True, write_through=False)
    except (AttributeError, ValueError):
        pass


def _emit(obj):
    data = (json.dumps(obj) + "\n").encode()
    # A line must never be cut by an interrupt: hold SIGINT while writing.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGINT)
    try:
        view = memoryview(data)
        while view:
            n = os.write(_EV_FD, view)
            view = view[n:]
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGINT)


_REPRS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_pdf_", "application/pdf"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_javascript_", "application/javascript"),
)
_BINARY = ("image/png", "image/jpeg", "application/pdf")


def _figure_png(obj):
    mpl_figure = sys.modules.get("matplotlib.figure")
    if mpl_figure is None or not isinstance(obj, mpl_figure.Figure):
        return None
    buf = io.BytesIO()
    obj.savefig(buf, format="png", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def _add(data, mime, value):
    if value is None:
        return
    if isinstance(value, tuple) and value:
        value = value[0]  # (data, metadata)
    if isinstance(value, (bytes, bytearray)):
        if mime in _BINARY:
            value = base64.b64encode(bytes(value)).decode()
        else:
            value = bytes(value).decode("utf-8", "replace")
    if mime == "application/json" and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        value = str(value)
    data[mime] = value


def _bundle(obj):
    """MIME bundle for obj, like IPython's display formatter (the subset that
    matters here)."""
    data = {}
    if isinstance(obj, type):
        return {"text/plain": repr(obj)}
    png = None
    try:
        png = _figure_png(obj)
    except Exception:
        pass
    if png:
        data["image/png"] = png
    f = getattr(obj, "_repr_mimebundle_", None)
    if callable(f):
        try:
            b = f(include=None, exclude=None)
            if isinstance(b, tuple):
                b = b[0]
            if isinstance(b, dict):
                for mime, value in b.items():
                    _add(data, mime, value)
        except Exception:
            pass
    for meth, mime in _REPRS:
        f = getattr(obj, meth, None)
        if mime in data or not callable(f):
            continue
        try:
            _add(data, mime, f())
        except Exception:
            pass
    if "text/plain" not in data:
        try:
            data["text/plain"] = repr(obj)
        except Exception as e:
            data["text/plain"] = "<unrepresentable object: %s>" % type(e).__name__
    return data


def display(*objs, **kwargs):
    """Show objects as rich results (is_main_result false)."""
    raw = kwargs.get("raw", False)
    for obj in objs:
        if raw and isinstance(obj, dict):
            data = {}
            for mime, value in obj.items():
                _add(data, mime, value)
        else:
            data = _bundle(obj)
        sys.stdout.flush()
        sys.stderr.flush()
        _emit({"type": "result", "main": False, "data": data})


def _flush_figures():
    """Open matplotlib figures become png results after each run (like the
    inline backend), then are closed."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        nums = plt.get_fignums()
        for n in nums:
            display(plt.figure(n))
        if nums:
            plt.close("all")
    except Exception:
        pass


# plt.show() on the Agg backend only warns; figures are shown after the run.
warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")

_ns = {"__name__": "__main__", "__builtins__": builtins, "display": display}
builtins.display = display
_loop = None
_cells = 0


def _await(value):
    global _loop
    if not inspect.iscoroutine(value):
        return value
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    try:
        return _loop.run_until_complete(value)
    except KeyboardInterrupt:
        _loop.close()
        _loop = None
        raise


def _traceback(e):
    te = traceback.TracebackException(type(e), e, e.__traceback__)
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if os.path.abspath(f.filename) != _ME]
    )
    return "".join(te.format())


def _run(code):
    global _cells
    _cells += 1
    name = "<cell-%d>" % _cells
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    tree = ast.parse(code, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    _await(eval(compile(tree, name, "exec", flags=flags), _ns))
    if last is not None:
        value = _await(eval(compile(last, name, "eval", flags=flags), _ns))
        if value is not None:
            _ns["_"] = value
            sys.stdout.flush()
            sys.stderr.flush()
            _emit({"type": "result", "main": True, "data": _bundle(value)})


def _handle(req):
    genv = req.get("global_env")
    if isinstance(genv, dict):
        for k, v in genv.items():
            if isinstance(v, str):
                os.environ[k] = v
    saved = {}
    env = req.get("env_vars")
    if isinstance(env, dict):
        for k, v in env.items():
            saved[k] = os.environ.get(k)
            os.environ[k] = str(v)
    try:
        _run(req.get("code", ""))
    except BaseException as e:
        sys.stdout.flush()
        sys.stderr.flush()
        _emit(
            {
                "type": "error",
                "name": type(e).__name__,
                "value": str(e),
                "traceback": _traceback(e),
            }
        )
    finally:
        try:
            _flush_figures()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _done():
    while True:
        try:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
            _emit({"type": "done"})
            return
        except KeyboardInterrupt:
            continue


def main():
    while True:
        try:
            line = _req.readline()
        except KeyboardInterrupt:
            continue  # an interrupt that came after the code finished
        if not line:
            return
        try:
            try:
                req = json.loads(line)
            except ValueError:
                req = None
            if isinstance(req, dict):
                _handle(req)
        except KeyboardInterrupt:
            pass
        finally:
            _done()


if __name__ == "__main__":
    main()
