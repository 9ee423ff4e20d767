# Two stages: build the wheel from the sources, then install only the wheel. The runtime image holds
# no source tree: in its working directory, the checkout's ems/ folder would shadow the installed
# package for `python -m ems.cli`, which is how `ems worker` starts its supervised child.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
# The Faust worker keeps its table folder (<app id>-data) in its working directory: nobody owns it.
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && mkdir /var/lib/ems && chown nobody /var/lib/ems
WORKDIR /var/lib/ems
USER nobody
