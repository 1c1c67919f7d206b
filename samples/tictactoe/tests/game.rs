//! A whole game played by two sessions sharing one board, through the core.

use std::time::Duration;

use afb_sdk::testing::{data, TestBinder};
use serde_json::json;

const T: Duration = Duration::from_secs(2);

#[tokio::test]
async fn two_sessions_play_a_full_game_on_a_shared_board() {
    let b = TestBinder::start(vec![afb_sample_tictactoe::api()]).await.unwrap();
    let (alice, bob) = (b.client(), b.client());

    let board = data(&alice.call("tictactoe", "new", &()).await);
    let id = board["boardid"].as_u64().unwrap();
    assert_eq!(board["board"], json!([" ", " ", " ", " ", " ", " ", " ", " ", " "]));
    assert_eq!(alice.next_event(T).await.unwrap().data["change"], "new");

    // Bob's own board is another one until he joins Alice's.
    let bobs = data(&bob.call("tictactoe", "board", &()).await);
    assert_ne!(bobs["boardid"].as_u64().unwrap(), id);
    let joined = bob.call("tictactoe", "join", &json!({"boardid": id})).await;
    assert!(joined.is_success(), "{joined:?}");
    assert_eq!(data(&joined)["boardid"].as_u64().unwrap(), id);
    for c in [&alice, &bob] {
        assert_eq!(c.next_event(T).await.unwrap().data["change"], "join");
    }

    // Bob waits for Alice's move: `wait` answers when the board changes.
    let (waited, moved) = tokio::join!(bob.call("tictactoe", "wait", &()), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        alice.call("tictactoe", "move", &json!({"index": 0})).await
    });
    assert!(moved.is_success());
    assert_eq!(waited.info.as_deref(), Some("move"));
    assert_eq!(data(&waited)["board"][0], "X");

    // X: 0, 1, 2 wins; O: 3, 4 (index given as text, as HTTP query values are).
    let turns = [(&bob, 3), (&alice, 1), (&bob, 4)];
    for (who, i) in turns {
        let r = who.call("tictactoe", "move", &json!({"index": i.to_string()})).await;
        assert!(r.is_success(), "{r:?}");
    }
    let taken = bob.call("tictactoe", "move", &json!({"index": 4})).await;
    assert_eq!(&*taken.status, "failed");
    let last = data(&alice.call("tictactoe", "move", &json!({"index": 2})).await);
    assert_eq!(last["winner"], "X");
    assert_eq!(last["history"], json!([0, 3, 1, 4, 2]));

    // Both players saw every change as events.
    let a_events = alice.drain_events().await;
    let b_events = bob.drain_events().await;
    let changes =
        |v: &[afb_sdk::testing::ReceivedEvent]| v.iter().map(|e| e.data["change"].clone()).collect::<Vec<_>>();
    assert_eq!(changes(&a_events), vec![json!("move"); 5]);
    assert_eq!(changes(&b_events), vec![json!("move"); 5]);
    assert!(a_events.iter().all(|e| e.name == "tictactoe/board" && !e.broadcast));

    // Undo, then the server plays, then a new game keeps the level.
    let undone = data(&bob.call("tictactoe", "undo", &()).await);
    assert!(undone.get("winner").is_none());
    assert!(bob.call("tictactoe", "level", &json!({"level": 9})).await.is_success());
    let played = data(&bob.call("tictactoe", "play", &()).await);
    assert_eq!(
        played["board"][2], "X",
        "the server blocks nothing here: it completes X's line"
    );
    assert_eq!(played["winner"], "X");
    let fresh = data(&alice.call("tictactoe", "new", &()).await);
    assert_eq!(fresh["level"], 9);
    assert_eq!(fresh["history"], json!([]));
    assert_eq!(
        &*alice.call("tictactoe", "level", &json!({"level": 11})).await.status,
        "invalid-request"
    );
    assert_eq!(
        &*alice.call("tictactoe", "join", &json!({"boardid": 999})).await.status,
        "failed"
    );
}
