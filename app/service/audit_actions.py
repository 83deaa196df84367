"""The names of audited actions (stable English, shown in Chinese in the UI)."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    UPLOAD = "upload"
    REPLACE = "replace"
    EDIT = "edit"
    DELETE = "delete"
    RESTORE = "restore"
    REVIEW = "review"
    ADD_CASE = "add_case"
    USER_ADD = "user_add"
    USER_CHANGE = "user_change"
    LOGIN_LOCKED = "login_locked"


ACTION_NAMES = {
    Action.UPLOAD: "上传", Action.REPLACE: "替换", Action.EDIT: "修改信息", Action.DELETE: "删除",
    Action.RESTORE: "恢复", Action.REVIEW: "处理待改进问题", Action.ADD_CASE: "加入评测集",
    Action.USER_ADD: "新建账号", Action.USER_CHANGE: "修改账号", Action.LOGIN_LOCKED: "登录锁定",
}
