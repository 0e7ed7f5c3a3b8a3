import { useEffect, useState } from 'preact/hooks';
import type { FeedState, LiveFeed } from './live-feed';

export function useFeed(feed: LiveFeed): FeedState {
  const [state, setState] = useState(feed.current());
  useEffect(() => {
    setState(feed.current());
    return feed.listen(setState);
  }, [feed]);
  return state;
}
