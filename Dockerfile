# Chorus. The build runs the README's install command; the container runs its `python -m bot`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 chorus \
    && mkdir -p /app/data/media \
    && chown -R chorus:chorus /app
WORKDIR /app
COPY --chown=chorus:chorus . .
USER chorus
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir .

# The volume holds the database and the kept songs (MEDIA_DIR defaults to /app/data/media, beside the database):
# one volume, so no copy is ever left in an anonymous one. Mount a bigger disk at /app/data/media if needed.
ENV DATABASE_PATH=/app/data/bot.db WEB_HOST=0.0.0.0 WEB_PORT=8080
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/.venv/bin/python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '8080'), timeout=4)"]
CMD ["/app/.venv/bin/python", "-m", "bot"]
