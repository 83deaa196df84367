"""``shegong user``: accounts and API tokens."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from app.cli.base import Ctx, fail, main
from app.core.errors import ShegongError
from app.core.settings import Settings


def accounts_of(settings: Settings) -> Any:
    from app.service.accounts import Accounts
    from app.service.db import ServiceDB

    return Accounts(ServiceDB(settings.service_db_url), token_ttl_s=settings.token_ttl_hours * 3600)


def _password(prompt: bool, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("密码", hide_input=True, confirmation_prompt=prompt))


@main.group()
def user() -> None:
    """账号管理：add | list | disable | enable | reset-password | token。"""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["worker", "supervisor", "trainer", "evaluator", "admin"]), default="worker",
              show_default=True,
              help="worker 社区工作者 / supervisor 居委书记、站长 / trainer 培训员 / evaluator 评测员 / admin 管理员")
@click.option("--region", default="", help="所在地区（回答时本地区文件优先；居委书记/站长看这个地区的户），如 宜川路街道")
@click.option("--supervises", default="", help="另给这个账号一个地区的走访查看范围（如培训员兼任站长）")
@click.option("--password-stdin", is_flag=True, help="从标准输入读密码（脚本用）")
@click.pass_obj
def user_add(obj: Ctx, username: str, role: str, region: str, supervises: str, password_stdin: bool) -> None:
    """新建账号。"""
    from app.service.audit_actions import Action
    from app.service.records import AuditLog

    try:
        accounts = accounts_of(obj.settings)
        u = accounts.add(username, _password(True, password_stdin), role=role, region=region,
                         supervises=supervises)
        AuditLog(accounts.db).record("cli", Action.USER_ADD, u.username, {"role": u.role})
    except ShegongError as exc:
        fail(exc)
        return
    click.echo(f"已创建账号 {u.username}（{u.role}）")


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def user_list(obj: Ctx, as_json: bool) -> None:
    """列出账号。"""
    users = [u.to_dict() for u in accounts_of(obj.settings).all()]
    if as_json:
        click.echo(json.dumps(users, ensure_ascii=False, indent=1))
        return
    for u in users:
        click.echo(f"{u['username']}\t{u['role']}\t{u['region'] or '-'}\t{'已停用' if u['disabled'] else '正常'}")


def _change_user(obj: Ctx, username: str, change: Any, detail: dict[str, object], done: str) -> None:
    """Apply ``change(accounts)`` and record it in the audit log as done from the command line."""
    from app.service.audit_actions import Action
    from app.service.records import AuditLog

    try:
        accounts = accounts_of(obj.settings)
        change(accounts)
        AuditLog(accounts.db).record("cli", Action.USER_CHANGE, username, detail)
    except ShegongError as exc:
        fail(exc)
        return
    click.echo(done)


@user.command("disable")
@click.argument("username")
@click.pass_obj
def user_disable(obj: Ctx, username: str) -> None:
    """停用账号（立即作废其登录令牌）。"""
    _change_user(obj, username, lambda a: a.set_disabled(username, True), {"disabled": True},
                 f"{username} 已停用（其令牌已作废）")


@user.command("enable")
@click.argument("username")
@click.pass_obj
def user_enable(obj: Ctx, username: str) -> None:
    """重新启用账号。"""
    _change_user(obj, username, lambda a: a.set_disabled(username, False), {"disabled": False}, f"{username} 已启用")


@user.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True)
@click.pass_obj
def user_reset_password(obj: Ctx, username: str, password_stdin: bool) -> None:
    """重设密码（并解除锁定、作废旧令牌）。"""
    password = _password(True, password_stdin)
    _change_user(obj, username, lambda a: a.reset_password(username, password), {"password_reset": True},
                 f"{username} 的密码已重设")


@user.command("token")
@click.argument("username")
@click.option("--label", default="cli", help="令牌用途说明")
@click.pass_obj
def user_token(obj: Ctx, username: str, label: str) -> None:
    """为账号签发一个 API 令牌（只显示这一次）。"""
    try:
        accounts = accounts_of(obj.settings)
        token = accounts.issue_token(accounts.get(username), label=label)
    except ShegongError as exc:
        fail(exc)
        return
    click.echo(token)
