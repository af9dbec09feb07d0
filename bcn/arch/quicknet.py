"""QuickNet stem and encoder, from larq-zoo's QuickNet blocks."""

from larq_zoo.sota.quicknet import QuickNetFactory

from bcn.arch.notation import Section


class FloatTwinQuickNetFactory(QuickNetFactory):
    """QuickNet with every binary conv made full precision (the paper's q2e)."""

    input_quantizer = None
    kernel_quantizer = None
    kernel_constraint = None


def _factory(float_twin: bool) -> QuickNetFactory:
    return FloatTwinQuickNetFactory() if float_twin else QuickNetFactory()


def quicknet_stem(x, filters: int, float_twin: bool = False):
    """`qn(z)`: full-precision stem to `filters` maps at stride 4."""
    return _factory(float_twin).stem_module(filters, x)


def quicknet_encoder(x, sections: tuple[Section, ...], float_twin: bool = False):
    """`qn([n1xf1, ...])`: binary residual blocks per scale, a transition between scales."""
    factory = _factory(float_twin)
    for index, section in enumerate(sections):
        if index > 0:
            x = factory.transition_block(x, section.filters, strides=2)
        for _ in range(section.blocks):
            x = factory.residual_block(x)
    return x
