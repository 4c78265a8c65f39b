"""Install mmlearnloss. Versions are pinned in requirements/*.txt (read here and by
tools/install_env.sh, which is how the test and demo commands build their environment)."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [ln.split('#')[0].strip() for ln in lines if ln.split('#')[0].strip()]


def read_version():
    scope = {}
    exec((HERE / 'mmlearnloss' / 'version.py').read_text(), scope)
    return scope['__version__']


setup(
    name='mmlearnloss',
    version=read_version(),
    description='Learning Loss for Active Learning (Yoo & Kweon, CVPR 2019) for OpenMMLab',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmlearnloss', 'mmlearnloss.*']),
    python_requires='>=3.9',
    install_requires=(read_requirements('torch.txt') + read_requirements('mmcv.txt') +
                      read_requirements('openmmlab.txt') + read_requirements('runtime.txt')),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
)
