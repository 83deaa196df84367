"""The web UI: a sign-in page and a phone-first Gradio app mounted in the FastAPI process.

Every handler asks the same shared objects as the API (``app.state.shegong``): the chat service for
answers, the conversation log, the curator, the review queue. Roles are checked on the server in
each handler, not only by hiding tabs. Nothing is loaded from the internet: system fonts only, no
analytics, no share links. ``mount.mount_ui`` puts it together: ``login`` (the sign-in page),
``layout`` (the Blocks), ``handlers`` (what each event does), ``render`` (answers as HTML).
"""
