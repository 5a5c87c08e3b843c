# The linewatch image: `linewatch` is the entrypoint, the compose file passes the subcommand.
#   docker build -t linewatch:local .
#   docker run --rm linewatch:local --help
FROM python:3.11-slim

# NUMBA_CACHE_DIR: the fleets' compiled kernels (numba) are cached in the container's /tmp,
# as the image's site-packages are not the unprivileged user's to write (without a writable
# place they compile afresh at each start, ~2 s before the service is ready)
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/tmp/linewatch-numba

WORKDIR /src
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY producers ./producers
RUN pip install . && rm -rf /src/build

# Run as an unprivileged user; nothing is written to the image at run time.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin linewatch
USER linewatch
WORKDIR /

# Prometheus metrics of `linewatch serve` (LINEWATCH_SERVE__METRICS_PORT).
EXPOSE 9108

ENTRYPOINT ["linewatch"]
CMD ["--help"]
