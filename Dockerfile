# One image for web (gunicorn) and worker (celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=mlstrat.settings.production \
    STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/data/media

RUN useradd --create-home --uid 1000 mlstrat
WORKDIR /app
COPY pyproject.toml README.md ./
COPY mlstrat ./mlstrat
RUN pip install --no-cache-dir .
COPY manage.py gunicorn.conf.py ./
COPY templates ./templates
COPY static ./static
# collectstatic needs settings that import; the real key comes from the environment at run time.
RUN SECRET_KEY=build-only-$(python -c 'import secrets;print(secrets.token_urlsafe(60))') \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
    && mkdir -p /data/media && chown -R mlstrat /data
USER mlstrat
EXPOSE 8000
CMD ["gunicorn", "mlstrat.wsgi:application", "--config", "gunicorn.conf.py"]
