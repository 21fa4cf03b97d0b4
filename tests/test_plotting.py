"""What a student sees: the training plot (epoch 1 is not an empty frame, no point runs off
its axes) and one line saying where the data came from."""
from d2l_recsys.plotting import Animator, training_animator


def lines(anim):
    return anim.figure().axes[0].get_lines()


def test_first_epoch_shows_its_points():
    anim = training_animator(False, 20)
    anim.add(1, (2.6, 1.4))
    drawn = lines(anim)
    assert len(drawn) == 2 and all(line.get_marker() == 'o' for line in drawn)
    anim.add(2, (0.9, 1.2))
    assert all(line.get_marker() in ('None', None, '') for line in lines(anim))


def test_book_axis_widens_for_a_point_above_it():
    anim = training_animator(False, 20)   # the book's y range: [0, 2]
    anim.add(1, (1.5, 1.2))
    assert anim.figure().axes[0].get_ylim() == (0.0, 2.0)
    anim.add(2, (2.6, 1.1))
    bottom, top = anim.figure().axes[0].get_ylim()
    assert bottom == 0.0 and top >= 2.6


def test_no_axis_limit_is_left_to_matplotlib():
    anim = Animator(legend=['a'], live=False)
    anim.add(1, 5.0)
    anim.add(2, 7.0)
    bottom, top = anim.figure().axes[0].get_ylim()
    assert bottom <= 5.0 and top >= 7.0


def test_data_source_line_is_printed_once(capsys):
    # A notebook reads the data in several cells; where it came from is said once.
    import inspect
    from d2l_recsys import fetch
    assert inspect.signature(fetch.ml100k_dir).parameters['log'].default is fetch.print_once
    fetch.print_once('ml-100k: a test line, printed once')
    fetch.print_once('ml-100k: a test line, printed once')
    fetch.print_once('ml-100k: another test line')
    assert capsys.readouterr().out.splitlines() == ['ml-100k: a test line, printed once',
                                                    'ml-100k: another test line']
