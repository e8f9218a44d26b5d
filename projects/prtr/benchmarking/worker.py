# Copyright (c) prtr authors. All rights reserved.
"""One benchmark job in this process, its result on the last line of
stdout: ``python -m prtr.benchmarking.worker JOB_JSON``."""
import json
import sys
import warnings

RESULT_TAG = 'BENCHMARK_RESULT '


def main(argv=None) -> None:
    """Run the job given as JSON and print its result after
    :data:`RESULT_TAG`."""
    warnings.filterwarnings('ignore', 'pkg_resources is deprecated')
    from prtr.benchmarking.measure import run_worker
    job = json.loads((sys.argv[1:] if argv is None else argv)[0])
    print(RESULT_TAG + json.dumps(run_worker(job)), flush=True)


if __name__ == '__main__':
    main()
