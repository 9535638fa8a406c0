FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Dependencies first (from pyproject.toml), so code changes do not reinstall them.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install --upgrade pip \
    && pip install -r /tmp/requirements.txt

COPY . .
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOW_CONSOLE_EMAIL=true python manage.py collectstatic --noinput

RUN useradd --create-home appointly && mkdir -p /app/var && chown -R appointly /app/var
USER appointly
EXPOSE 8000
CMD ["gunicorn", "appointly.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
