# oddping container image: one image, two entry points.
#
#   sensor     oddping produce --interface IFACE [--bpf EXPR] [--sensor-id ID] --config FILE
#              live capture through libpcap; needs CAP_NET_RAW and CAP_NET_ADMIN and the host's
#              network namespace, e.g.
#                docker run --rm --network host --user 0 --cap-drop ALL \
#                  --cap-add NET_RAW --cap-add NET_ADMIN -v "$PWD/oddping.toml:/etc/oddping/oddping.toml:ro" \
#                  oddping:0.1.0 produce --interface eth0 --config /etc/oddping/oddping.toml
#   processor  oddping process --config FILE
#              faust-streaming worker, runs as the image's non-root user (uid 10001), e.g.
#                docker run --rm -v "$PWD/oddping.toml:/etc/oddping/oddping.toml:ro" \
#                  oddping:0.1.0 process --config /etc/oddping/oddping.toml
#
# Both serve /metrics and /healthz on metrics.host:metrics.port (127.0.0.1:9102 unless configured;
# set metrics.host = "0.0.0.0" to publish the port). In Kubernetes use the Helm chart in
# helm/oddping, which sets all of this up. Build with BuildKit (the default builder):
#   docker build -t oddping:0.1.0 .
# The image includes the `rocksdb` extra (processor.store = "rocksdb"); build without it with
#   docker build --build-arg ODDPING_EXTRAS= -t oddping:0.1.0 .

############################################################ builder: wheels of oddping + deps
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# A compiler and libpcap headers, for any dependency without a wheel for the target platform
# (pcapy-ng and the rest ship wheels for linux/amd64; arm64 may need them). Builder stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpcap-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# The same project the tests install: pyproject.toml at the repository root (see .dockerignore).
COPY . .
ARG ODDPING_EXTRAS=rocksdb
# pip's cache survives between builds (BuildKit cache mount), so a source change does not
# download every dependency again.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels ".${ODDPING_EXTRAS:+[${ODDPING_EXTRAS}]}"

############################################################ runtime: slim, non-root
FROM python:3.11.13-slim-bookworm AS runtime

ARG ODDPING_EXTRAS=rocksdb
LABEL org.opencontainers.image.title="oddping" \
      org.opencontainers.image.description="Streaming hunter for odd ICMP echo traffic" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# pcapy-ng's wheel vendors libpcap; Debian's copy is installed as well so that live capture
# works with the distribution library too.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap0.8 \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 oddping \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/oddping --no-create-home \
      --shell /usr/sbin/nologin oddping \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/oddping

# Install from the builder's wheels only (no index): exactly what was built above.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels "oddping${ODDPING_EXTRAS:+[${ODDPING_EXTRAS}]}" \
 && oddping --help > /dev/null

USER 10001:10001
WORKDIR /var/lib/oddping
EXPOSE 9102
ENTRYPOINT ["oddping"]
CMD ["--help"]
