"""Users: creation, lookup and password authentication."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select

from app.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated
from app.models.base import utcnow
from app.models.user import Role, User, UserCreate
from app.security import hash_password, verify_password
from app.services.pagination import Page, paginate

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

# Verified against when the e-mail is unknown, so both paths cost one argon2 check.
_DUMMY_HASH = hash_password("not-a-real-password")


async def get(*, session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


async def get_by_email(*, session: AsyncSession, email: str) -> User | None:
    result = await session.exec(select(User).where(User.email == email.lower()))
    return result.first()


async def create(*, session: AsyncSession, data: UserCreate) -> User:
    email = data.email.lower()
    if await get_by_email(session=session, email=email) is not None:
        raise AlreadyExists(f"a user with e-mail {email} already exists", path=["email"])
    user = User(email=email, role=data.role, password_hash=hash_password(data.password))
    session.add(user)
    await session.flush()
    return user


async def authenticate(*, session: AsyncSession, email: str, password: str) -> User:
    user = await get_by_email(session=session, email=email)
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise Unauthenticated("wrong e-mail or password")
    if not verify_password(user.password_hash, password) or not user.is_active:
        raise Unauthenticated("wrong e-mail or password")
    return user


async def admin_exists(*, session: AsyncSession) -> bool:
    result = await session.exec(select(User.id).where(User.role == Role.ADMIN).limit(1))
    return result.first() is not None


async def ensure_admin(*, session: AsyncSession, email: str, password: str) -> User | None:
    """Create the first admin unless one exists; returns the new admin, or None."""
    if await admin_exists(session=session):
        return None
    data = UserCreate(email=email, password=password, role=Role.ADMIN)
    return await create(session=session, data=data)


async def set_role(*, session: AsyncSession, user_id: str, role: Role) -> User:
    """Change the role; tokens issued under the old role stop working."""
    user = await get(session=session, user_id=user_id)
    if user.role is Role.ADMIN and role is not Role.ADMIN:
        await _keep_one_admin(session, user)
    user.role = role
    user.tokens_valid_after = utcnow()
    session.add(user)
    await session.flush()
    return user


async def set_active(*, session: AsyncSession, user_id: str, active: bool) -> User:
    """Disable (or re-enable) an account; a disabled one can neither log in nor use keys."""
    user = await get(session=session, user_id=user_id)
    if not active and user.role is Role.ADMIN:
        await _keep_one_admin(session, user)
    user.is_active = active
    user.tokens_valid_after = utcnow()
    session.add(user)
    await session.flush()
    return user


async def _keep_one_admin(session: AsyncSession, leaving: User) -> None:
    statement = select(User.id).where(
        User.role == Role.ADMIN, col(User.is_active).is_(True), User.id != leaving.id
    )
    if (await session.exec(statement)).first() is None:
        raise InvalidInput("this is the last active admin; make another admin first")


async def list_page(
    *, session: AsyncSession, first: int | None = None, after: str | None = None
) -> Page[User]:
    return await paginate(session, select(User), User, first=first, after=after)
