from setuptools import find_packages, setup

setup(
    name='prtr',
    version='0.1.0',
    description='PRTR (Pose Recognition with Cascade Transformers) '
    'for MMPose 1.x',
    package_dir={'prtr': 'projects/prtr'},
    packages=['prtr'] + ['prtr.' + p for p in find_packages('projects/prtr')],
    python_requires='>=3.8',
    license='Apache License 2.0',
)
