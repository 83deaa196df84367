"""Mounting the UI in the FastAPI process: sign-in routes and the Gradio app at ``/ui``."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI, Request

from app.api.deps import SESSION_COOKIE, user_for
from app.core.errors import ShegongError
from app.core.settings import Settings
from app.ui.handlers import UI
from app.ui.layout import build
from app.ui.login import add_login_routes
from app.ui.render import CSS, MONO_FONTS, SYSTEM_FONTS, UI_PATH
from app.ui.visits import add_visit_routes


def mount_ui(app: FastAPI, settings: Settings) -> None:
    """Sign-in routes and the Gradio app at ``/ui``, hardened: no share links, no file serving."""
    from app.service.factory import load_region_tree, region_names

    add_login_routes(app, settings)
    add_visit_routes(app, settings)
    regions = sorted(region_names(load_region_tree(settings.regions_file)))
    demo = build(UI(app, settings), regions)
    demo.queue(default_concurrency_limit=4)

    def gradio_user(request: Request) -> str | None:
        try:
            return user_for(app.state.shegong, request.cookies.get(SESSION_COOKIE)).username
        except ShegongError:
            return None

    theme = gr.themes.Soft(font=SYSTEM_FONTS, font_mono=MONO_FONTS)
    gr.mount_gradio_app(
        app, demo, path=UI_PATH, auth_dependency=gradio_user, footer_links=[], ssr_mode=False, pwa=False,
        mcp_server=False, enable_monitoring=False, allowed_paths=[], blocked_paths=[str(settings.data_dir.resolve())],
        max_file_size=f"{min(settings.max_upload_mb, settings.max_file_mb):g}mb", show_error=True, theme=theme,
        css=CSS,
    )
