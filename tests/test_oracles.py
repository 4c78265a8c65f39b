"""The oracles of train_cfg.oracle: registered classes built from their names or configs."""
import pytest

from mmlearnloss.annotation.oracles import (BaseOracle, LabelStudioProjectOracle, ManualOracle,
                                            SimulatedOracle, build_oracle)
from mmlearnloss.registry import ORACLES


@pytest.mark.parametrize('name, oracle_class', [('simulated', SimulatedOracle),
                                                ('manual', ManualOracle),
                                                ('label_studio', LabelStudioProjectOracle)])
def test_the_config_names_build_the_registered_oracles(name, oracle_class):
    assert ORACLES.get(name) is oracle_class  # a registered name, not an alias table
    assert type(build_oracle(name)) is oracle_class
    assert type(build_oracle(dict(type=name))) is oracle_class
    assert type(build_oracle(dict(type=f'mmlearnloss.{oracle_class.__name__}'))) is oracle_class


def test_label_studio_settings_reach_its_client_and_a_token_is_refused():
    oracle = build_oracle(dict(type='label_studio', url='http://127.0.0.1:9', project=3))
    assert oracle.label_studio.url == 'http://127.0.0.1:9'
    assert oracle.label_studio.project == 3
    assert build_oracle('label_studio').label_studio.project == 'mmlearnloss'  # --cfg-options
    with pytest.raises(ValueError, match='LABEL_STUDIO_API_KEY'):
        build_oracle(dict(type='label_studio', api_key='secret'))


def test_an_unknown_oracle_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match=r"unknown oracle 'cvat'.*'label_studio', 'manual'"):
        build_oracle('cvat')


def test_the_simulated_oracle_labels_at_once():
    assert SimulatedOracle().ask(query=None) is True


def test_an_oracle_registered_by_another_module_is_built_by_its_name():

    class EveryoneAgrees(BaseOracle):

        def __init__(self, votes=1):
            self.votes = votes

        def ask(self, query):
            return True

    ORACLES.register_module(module=EveryoneAgrees)
    try:
        oracle = build_oracle(dict(type='EveryoneAgrees', votes=3))
        assert isinstance(oracle, EveryoneAgrees) and oracle.votes == 3
    finally:
        ORACLES.module_dict.pop('EveryoneAgrees')
