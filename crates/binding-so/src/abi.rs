//! The v4 binding ABI as both of its sides see it: the function table
//! (`struct afb_binding_x4r1_itf`, revisions 1 to 9), its callback types
//! and the control argument of the main control callback.
//!
//! The table is defined once, here, generic over the handle types
//! ([`Handles`]): the binder (`afb-cbinding`) fills an [`ItfV4`] with its
//! own objects, and shared objects made with this crate read the one a
//! binder gives them through the opaque handles of [`Opaque`]. Every
//! member is one pointer, so the layout does not depend on the handles;
//! `afb-cbinding`'s tests compare it with the C header member by member.
//!
//! The table only grows at its end: a binding declares the revision it was
//! built for (`afbBindingV4_itf_revision`) and never reads past the members
//! of that revision ([`MEMBERS`]).

use std::ffi::{c_char, c_int, c_long, c_uint, c_void};
use std::marker::{PhantomData, PhantomPinned};

/// The highest interface revision (the headers' "full" one).
pub const MAX_REVISION: u16 = 9;

/// The revision the headers give a binding that does not choose one (their
/// "current" one).
pub const CURRENT_REVISION: u16 = 7;
const _: () = assert!(CURRENT_REVISION <= MAX_REVISION);

/// How many members the table has at each revision (index: the revision).
pub const MEMBERS: [usize; MAX_REVISION as usize + 1] = [0, 103, 105, 107, 109, 110, 111, 112, 113, 114];

/// The object types behind the ABI's handles, as one side implements them.
pub trait Handles {
    /// `afb_api_t`.
    type Api;
    /// `afb_req_t`.
    type Req;
    /// `afb_event_t`.
    type Event;
    /// `afb_data_t`.
    type Data;
    /// `afb_type_t`.
    type Type;
    /// `afb_evfd_t`.
    type Evfd;
    /// `afb_timer_t`.
    type Timer;
    /// `struct json_object`.
    type Json;
}

type Api<H> = <H as Handles>::Api;
type Req<H> = <H as Handles>::Req;
type Event<H> = <H as Handles>::Event;
type Data<H> = <H as Handles>::Data;
type Type<H> = <H as Handles>::Type;
type Evfd<H> = <H as Handles>::Evfd;
type Timer<H> = <H as Handles>::Timer;
type Json<H> = <H as Handles>::Json;

macro_rules! opaque {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[repr(C)]
            pub struct $name {
                _opaque: [u8; 0],
                _not_send_sync_unpin: PhantomData<(*mut u8, PhantomPinned)>,
            }
        )*
    };
}

opaque! {
    /// An API of the binder (`struct afb_api_x4`).
    ApiX4;
    /// A request (`struct afb_req_x4`).
    ReqX4;
    /// An event (`struct afb_event_x4`).
    EventX4;
    /// A data (`struct afb_data_x4`).
    DataX4;
    /// A data type (`struct afb_type_x4`).
    TypeX4;
    /// A file event handler (`struct afb_evfd_x4`).
    EvfdX4;
    /// A timer (`struct afb_timer_x4`).
    TimerX4;
    /// A json-c object (`struct json_object`).
    JsonObject;
}

/// The handles of a binding: opaque objects of the binder that loaded it.
pub enum Opaque {}

impl Handles for Opaque {
    type Api = ApiX4;
    type Req = ReqX4;
    type Event = EventX4;
    type Data = DataX4;
    type Type = TypeX4;
    type Evfd = EvfdX4;
    type Timer = TimerX4;
    type Json = JsonObject;
}

/// `afb_ctlid_Root_Entry`: the binding's entry (`afbBindingV4entry`).
pub const CTLID_ROOT_ENTRY: c_int = 0;
/// `afb_ctlid_Pre_Init`: an API is being made.
pub const CTLID_PRE_INIT: c_int = 1;
/// `afb_ctlid_Init`: the API starts.
pub const CTLID_INIT: c_int = 2;
/// `afb_ctlid_Orphan_Event`: an event no handler took.
pub const CTLID_ORPHAN_EVENT: c_int = 4;

/// `union afb_ctlarg`, as its largest member (three pointers).
#[repr(C)]
pub struct CtlArg<H: Handles> {
    /// `path` (root entry, pre-init) or `name` (orphan event).
    pub path_or_name: *const c_char,
    /// `uid` (root entry, pre-init).
    pub uid: *const c_char,
    /// `config` (root entry, pre-init).
    pub config: *mut Json<H>,
}

/// `struct afb_auth`: a node of an authorisation rule tree.
#[repr(C)]
pub struct AfbAuth {
    /// `enum afb_auth_type`: 0 no, 1 token, 2 LOA, 3 permission, 4 or,
    /// 5 and, 6 not, 7 yes.
    pub kind: c_int,
    /// The union: `text` (permission), `loa` (LOA) or `first` (the first
    /// child of or, and, not).
    pub u: usize,
    /// The second child of or, and.
    pub next: *const AfbAuth,
}

/// A verb's description, `struct afb_verb_v4` with the callback type
/// `Cb` ([`VerbV4`]); `struct afb_verb_v3` has the same layout with the
/// v3 callback.
#[repr(C)]
pub struct Verb<Cb> {
    /// The name (a glob pattern when `glob` says so); NULL ends an array.
    pub verb: *const c_char,
    /// The verb's callback.
    pub callback: Option<Cb>,
    /// Its authorisation rule, or NULL.
    pub auth: *const AfbAuth,
    /// Its description.
    pub info: *const c_char,
    /// Its data (`req_vcbdata`).
    pub vcbdata: *mut c_void,
    /// Its session requirements (`AFB_SESSION_*`).
    pub session: u16,
    /// Bit 0: the name is a glob pattern.
    pub glob: u16,
}

/// `struct afb_verb_v4`.
pub type VerbV4<H> = Verb<ReqCallback<H>>;

/// `struct afb_binding_v4`: the static description `afbBindingV4`.
#[repr(C)]
pub struct BindingV4<H: Handles> {
    /// The API's name.
    pub api: *const c_char,
    /// Its specification (`info` answers it).
    pub specification: *const c_char,
    /// Its description.
    pub info: *const c_char,
    /// Its verbs: an array ending with a NULL name.
    pub verbs: *const VerbV4<H>,
    /// Its main control callback.
    pub mainctl: Option<ApiCallback<H>>,
    /// Its data (`api_get_userdata`).
    pub userdata: *mut c_void,
    /// The classes it provides (space-separated).
    pub provide_class: *const c_char,
    /// The classes it requires (space-separated).
    pub require_class: *const c_char,
    /// The APIs it requires (space-separated).
    pub require_api: *const c_char,
    /// Bit 0: noconcurrency.
    pub flags: u32,
}

/// A release function with its closure (`void (*)(void *)`), or none.
pub type Dispose = Option<unsafe extern "C" fn(*mut c_void)>;
/// `afb_api_callback_t`: the main control callback of an API.
pub type ApiCallback<H> = unsafe extern "C" fn(*mut Api<H>, c_int, *const CtlArg<H>, *mut c_void) -> c_int;
/// `afb_req_callback_t`: a verb.
pub type ReqCallback<H> = unsafe extern "C" fn(*mut Req<H>, c_uint, *const *mut Data<H>);
/// `afb_call_callback_t`: the reply of an API's call.
pub type CallCallback<H> = unsafe extern "C" fn(*mut c_void, c_int, c_uint, *const *mut Data<H>, *mut Api<H>);
/// `afb_subcall_callback_t`: the reply of a request's call.
pub type SubcallCallback<H> = unsafe extern "C" fn(*mut c_void, c_int, c_uint, *const *mut Data<H>, *mut Req<H>);
/// `afb_check_callback_t`: the answer of a permission check.
pub type CheckCallback<H> = unsafe extern "C" fn(*mut c_void, c_int, *mut Req<H>);
/// `afb_event_handler_t`.
pub type EventHandler<H> = unsafe extern "C" fn(*mut c_void, *const c_char, c_uint, *const *mut Data<H>, *mut Api<H>);
/// `afb_type_converter_t`.
pub type TypeConverter<H> = unsafe extern "C" fn(*mut c_void, *mut Data<H>, *const Type<H>, *mut *mut Data<H>) -> c_int;
/// `afb_type_updater_t`.
pub type TypeUpdater<H> = unsafe extern "C" fn(*mut c_void, *mut Data<H>, *const Type<H>, *mut Data<H>) -> c_int;
/// `afb_evfd_handler_t`.
pub type EvfdHandler<H> = unsafe extern "C" fn(*mut Evfd<H>, c_int, u32, *mut c_void);
/// `afb_timer_handler_t`.
pub type TimerHandler<H> = unsafe extern "C" fn(*mut Timer<H>, *mut c_void, c_uint);
/// A job: `void (*)(int signum, void *arg)`.
pub type JobCallback = unsafe extern "C" fn(c_int, *mut c_void);
/// The creation function of `LEGACY_req_cookie`.
pub type CookieCreate = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
/// The initialiser of `req_cookie_getinit`: fills the value, its release
/// function and that function's closure.
pub type CookieInit = unsafe extern "C" fn(*mut c_void, *mut *mut c_void, *mut Dispose, *mut *mut c_void) -> c_int;
/// `time_t` (a `long` on Linux ABIs).
#[allow(non_camel_case_types)]
pub type time_t = c_long;

macro_rules! table {
    ($($field:ident : $ty:ty,)*) => {
        /// `struct afb_binding_x4r1_itf`, in the ABI's order (revisions 1
        /// to 9). The members are the C header's, in lower case (see
        /// `afb-binding-v4.h`).
        #[repr(C)]
        #[allow(missing_docs)]
        pub struct ItfV4<H: Handles> {
            $(pub $field: $ty,)*
        }

        /// The members' names, in the table's order.
        pub const MEMBER_NAMES: &[&str] = &[$(stringify!($field)),*];

        /// Each member's name and offset in an `ItfV4<H>`, in order.
        pub fn layout<H: Handles>() -> Vec<(&'static str, usize)> {
            vec![$((stringify!($field), std::mem::offset_of!(ItfV4<H>, $field))),*]
        }
    };
}

table! {
    // data
    create_data_raw: unsafe extern "C" fn(*mut *mut Data<H>, *const Type<H>, *const c_void, usize, Dispose, *mut c_void) -> c_int,
    create_data_alloc: unsafe extern "C" fn(*mut *mut Data<H>, *const Type<H>, *mut *mut c_void, usize) -> c_int,
    create_data_copy: unsafe extern "C" fn(*mut *mut Data<H>, *const Type<H>, *const c_void, usize) -> c_int,
    data_addref: unsafe extern "C" fn(*mut Data<H>) -> *mut Data<H>,
    data_unref: unsafe extern "C" fn(*mut Data<H>),
    data_get_mutable: unsafe extern "C" fn(*mut Data<H>, *mut *mut c_void, *mut usize) -> c_int,
    data_get_constant: unsafe extern "C" fn(*mut Data<H>, *mut *mut c_void, *mut usize) -> c_int,
    data_update: unsafe extern "C" fn(*mut Data<H>, *mut Data<H>) -> c_int,
    data_convert: unsafe extern "C" fn(*mut Data<H>, *const Type<H>, *mut *mut Data<H>) -> c_int,
    data_type: unsafe extern "C" fn(*mut Data<H>) -> *const Type<H>,
    data_notify_changed: unsafe extern "C" fn(*mut Data<H>),
    data_is_volatile: unsafe extern "C" fn(*mut Data<H>) -> c_int,
    data_set_volatile: unsafe extern "C" fn(*mut Data<H>),
    data_set_not_volatile: unsafe extern "C" fn(*mut Data<H>),
    data_is_constant: unsafe extern "C" fn(*mut Data<H>) -> c_int,
    data_set_constant: unsafe extern "C" fn(*mut Data<H>),
    data_set_not_constant: unsafe extern "C" fn(*mut Data<H>),
    data_lock_read: unsafe extern "C" fn(*mut Data<H>),
    data_try_lock_read: unsafe extern "C" fn(*mut Data<H>) -> c_int,
    data_lock_write: unsafe extern "C" fn(*mut Data<H>),
    data_try_lock_write: unsafe extern "C" fn(*mut Data<H>) -> c_int,
    data_unlock: unsafe extern "C" fn(*mut Data<H>),
    // requests
    req_logmask: unsafe extern "C" fn(*mut Req<H>) -> c_int,
    req_addref: unsafe extern "C" fn(*mut Req<H>) -> *mut Req<H>,
    req_unref: unsafe extern "C" fn(*mut Req<H>),
    req_api: unsafe extern "C" fn(*mut Req<H>) -> *mut Api<H>,
    req_vcbdata: unsafe extern "C" fn(*mut Req<H>) -> *mut c_void,
    req_called_api: unsafe extern "C" fn(*mut Req<H>) -> *const c_char,
    req_called_verb: unsafe extern "C" fn(*mut Req<H>) -> *const c_char,
    req_vverbose: unsafe extern "C" fn(*mut Req<H>, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    req_session_close: unsafe extern "C" fn(*mut Req<H>),
    req_session_set_loa: unsafe extern "C" fn(*mut Req<H>, c_uint) -> c_int,
    legacy_req_cookie: unsafe extern "C" fn(*mut Req<H>, c_int, Option<CookieCreate>, Dispose, *mut c_void) -> *mut c_void,
    req_subscribe: unsafe extern "C" fn(*mut Req<H>, *mut Event<H>) -> c_int,
    req_unsubscribe: unsafe extern "C" fn(*mut Req<H>, *mut Event<H>) -> c_int,
    req_get_client_info: unsafe extern "C" fn(*mut Req<H>) -> *mut Json<H>,
    req_check_permission: unsafe extern "C" fn(*mut Req<H>, *const c_char, Option<CheckCallback<H>>, *mut c_void),
    req_parameters: unsafe extern "C" fn(*mut Req<H>, *mut *const *mut Data<H>) -> c_uint,
    req_reply: unsafe extern "C" fn(*mut Req<H>, c_int, c_uint, *const *mut Data<H>),
    req_subcall: unsafe extern "C" fn(*mut Req<H>, *const c_char, *const c_char, c_uint, *const *mut Data<H>, c_int, Option<SubcallCallback<H>>, *mut c_void),
    req_subcall_sync: unsafe extern "C" fn(*mut Req<H>, *const c_char, *const c_char, c_uint, *const *mut Data<H>, c_int, *mut c_int, *mut c_uint, *mut *mut Data<H>) -> c_int,
    // events
    event_addref: unsafe extern "C" fn(*mut Event<H>) -> *mut Event<H>,
    event_unref: unsafe extern "C" fn(*mut Event<H>),
    event_name: unsafe extern "C" fn(*mut Event<H>) -> *const c_char,
    event_push: unsafe extern "C" fn(*mut Event<H>, c_uint, *const *mut Data<H>) -> c_int,
    event_broadcast: unsafe extern "C" fn(*mut Event<H>, c_uint, *const *mut Data<H>) -> c_int,
    // types
    type_lookup: unsafe extern "C" fn(*mut *const Type<H>, *const c_char) -> c_int,
    type_register: unsafe extern "C" fn(*mut *const Type<H>, *const c_char, c_int) -> c_int,
    type_name: unsafe extern "C" fn(*const Type<H>) -> *const c_char,
    type_set_family: unsafe extern "C" fn(*const Type<H>, *const Type<H>) -> c_int,
    type_add_converter: unsafe extern "C" fn(*const Type<H>, *const Type<H>, Option<TypeConverter<H>>, *mut c_void) -> c_int,
    type_add_updater: unsafe extern "C" fn(*const Type<H>, *const Type<H>, Option<TypeUpdater<H>>, *mut c_void) -> c_int,
    // APIs
    api_logmask: unsafe extern "C" fn(*mut Api<H>) -> c_int,
    api_vverbose: unsafe extern "C" fn(*mut Api<H>, c_int, *const c_char, c_int, *const c_char, *const c_char, *mut c_void),
    api_name: unsafe extern "C" fn(*mut Api<H>) -> *const c_char,
    api_get_userdata: unsafe extern "C" fn(*mut Api<H>) -> *mut c_void,
    api_set_userdata: unsafe extern "C" fn(*mut Api<H>, *mut c_void) -> *mut c_void,
    api_settings: unsafe extern "C" fn(*mut Api<H>) -> *mut Json<H>,
    api_event_broadcast: unsafe extern "C" fn(*mut Api<H>, *const c_char, c_uint, *const *mut Data<H>) -> c_int,
    api_new_event: unsafe extern "C" fn(*mut Api<H>, *const c_char, *mut *mut Event<H>) -> c_int,
    api_event_handler_add: unsafe extern "C" fn(*mut Api<H>, *const c_char, Option<EventHandler<H>>, *mut c_void) -> c_int,
    api_event_handler_del: unsafe extern "C" fn(*mut Api<H>, *const c_char, *mut *mut c_void) -> c_int,
    api_call: unsafe extern "C" fn(*mut Api<H>, *const c_char, *const c_char, c_uint, *const *mut Data<H>, Option<CallCallback<H>>, *mut c_void),
    api_call_sync: unsafe extern "C" fn(*mut Api<H>, *const c_char, *const c_char, c_uint, *const *mut Data<H>, *mut c_int, *mut c_uint, *mut *mut Data<H>) -> c_int,
    api_add_verb: unsafe extern "C" fn(*mut Api<H>, *const c_char, *const c_char, Option<ReqCallback<H>>, *mut c_void, *const AfbAuth, u32, c_int) -> c_int,
    api_del_verb: unsafe extern "C" fn(*mut Api<H>, *const c_char, *mut *mut c_void) -> c_int,
    api_seal: unsafe extern "C" fn(*mut Api<H>),
    api_set_verbs: unsafe extern "C" fn(*mut Api<H>, *const VerbV4<H>) -> c_int,
    api_require_api: unsafe extern "C" fn(*mut Api<H>, *const c_char, c_int) -> c_int,
    api_class_provide: unsafe extern "C" fn(*mut Api<H>, *const c_char) -> c_int,
    api_class_require: unsafe extern "C" fn(*mut Api<H>, *const c_char) -> c_int,
    api_delete: unsafe extern "C" fn(*mut Api<H>) -> c_int,
    // miscellaneous
    create_api: unsafe extern "C" fn(*mut Api<H>, *mut *mut Api<H>, *const c_char, *const c_char, c_int, Option<ApiCallback<H>>, *mut c_void) -> c_int,
    job_post: unsafe extern "C" fn(*mut Api<H>, c_long, c_int, Option<JobCallback>, *mut c_void, *mut c_void) -> c_int,
    alias_api: unsafe extern "C" fn(*mut Api<H>, *const c_char, *const c_char) -> c_int,
    setup_shared_object: unsafe extern "C" fn(*mut Api<H>, *mut c_void) -> c_int,
    // predefined types
    type_opaque: *const Type<H>,
    type_stringz: *const Type<H>,
    type_json: *const Type<H>,
    type_json_c: *const Type<H>,
    type_bool: *const Type<H>,
    type_i32: *const Type<H>,
    type_u32: *const Type<H>,
    type_i64: *const Type<H>,
    type_u64: *const Type<H>,
    type_double: *const Type<H>,
    // file events
    evfd_create: unsafe extern "C" fn(*mut *mut Evfd<H>, c_int, u32, Option<EvfdHandler<H>>, *mut c_void, c_int, c_int) -> c_int,
    evfd_addref: unsafe extern "C" fn(*mut Evfd<H>) -> *mut Evfd<H>,
    evfd_unref: unsafe extern "C" fn(*mut Evfd<H>),
    evfd_get_fd: unsafe extern "C" fn(*mut Evfd<H>) -> c_int,
    evfd_get_events: unsafe extern "C" fn(*mut Evfd<H>) -> u32,
    evfd_set_events: unsafe extern "C" fn(*mut Evfd<H>, u32),
    // timers
    timer_create: unsafe extern "C" fn(*mut *mut Timer<H>, c_int, time_t, c_uint, c_uint, c_uint, c_uint, Option<TimerHandler<H>>, *mut c_void, c_int) -> c_int,
    timer_addref: unsafe extern "C" fn(*mut Timer<H>) -> *mut Timer<H>,
    timer_unref: unsafe extern "C" fn(*mut Timer<H>),
    // later additions of revision 1
    req_session_get_loa: unsafe extern "C" fn(*mut Req<H>) -> c_uint,
    data_dependency_add: unsafe extern "C" fn(*mut Data<H>, *mut Data<H>) -> c_int,
    data_dependency_sub: unsafe extern "C" fn(*mut Data<H>, *mut Data<H>) -> c_int,
    data_dependency_drop_all: unsafe extern "C" fn(*mut Data<H>),
    req_cookie_set: unsafe extern "C" fn(*mut Req<H>, *mut c_void, Dispose, *mut c_void) -> c_int,
    req_cookie_get: unsafe extern "C" fn(*mut Req<H>, *mut *mut c_void) -> c_int,
    req_cookie_getinit: unsafe extern "C" fn(*mut Req<H>, *mut *mut c_void, Option<CookieInit>, *mut c_void) -> c_int,
    req_cookie_drop: unsafe extern "C" fn(*mut Req<H>) -> c_int,
    // revision 2
    type_bytearray: *const Type<H>,
    req_param_convert: unsafe extern "C" fn(*mut Req<H>, c_uint, *const Type<H>, *mut *mut Data<H>) -> c_int,
    // revision 3
    req_interface_by_id: unsafe extern "C" fn(*mut Req<H>, c_int, *mut *mut c_void) -> c_int,
    req_interface_by_name: unsafe extern "C" fn(*mut Req<H>, *const c_char, *mut *mut c_void) -> c_int,
    // revision 4
    req_get_userdata: unsafe extern "C" fn(*mut Req<H>) -> *mut c_void,
    req_set_userdata: unsafe extern "C" fn(*mut Req<H>, *mut c_void, Dispose),
    // revision 5
    job_abort: unsafe extern "C" fn(*mut Api<H>, c_int) -> c_int,
    // revision 6
    api_unshare_session: unsafe extern "C" fn(*mut Api<H>) -> c_int,
    // revision 7
    timer_modify_period: unsafe extern "C" fn(*mut Timer<H>, c_uint),
    // revision 8
    type_uuid: *const Type<H>,
    // revision 9
    api_set_specification: unsafe extern "C" fn(*mut Api<H>, *const c_char) -> c_int,
}

// SAFETY: a table is never changed once made; its members are function
// pointers (shareable) and the addresses of type objects that are
// themselves `Sync`, which are only handed back to the functions of the
// table.
unsafe impl<H: Handles> Sync for ItfV4<H> where H::Type: Sync {}

#[cfg(test)]
mod tests {
    use super::*;

    const PTR: usize = std::mem::size_of::<usize>();

    /// The members each revision appends, from revision 2 on: (revision, first member, count).
    const APPENDED: &[(u16, &str, usize)] = &[
        (2, "type_bytearray", 2),
        (3, "req_interface_by_id", 2),
        (4, "req_get_userdata", 2),
        (5, "job_abort", 1),
        (6, "api_unshare_session", 1),
        (7, "timer_modify_period", 1),
        (8, "type_uuid", 1),
        (9, "api_set_specification", 1),
    ];

    #[test]
    fn every_member_is_one_pointer_in_order_and_each_revision_appends_its_own() {
        let layout = layout::<Opaque>();
        assert_eq!(layout.len(), MEMBER_NAMES.len());
        for (i, ((name, off), listed)) in layout.iter().zip(MEMBER_NAMES).enumerate() {
            assert_eq!(name, listed);
            assert_eq!(*off, i * PTR, "{name} out of place");
        }
        let index = |n: &str| MEMBER_NAMES.iter().position(|f| *f == n).unwrap();
        assert_eq!(index("req_cookie_drop") + 1, 103, "revision 1 has 103 members");
        assert_eq!(MEMBERS[1], 103);
        let mut end = 103;
        for (rev, first, count) in APPENDED {
            assert_eq!(index(first), end, "first member of revision {rev}");
            end += count;
            assert_eq!(MEMBERS[*rev as usize], end, "members at revision {rev}");
        }
        assert_eq!(end, MEMBER_NAMES.len());
        assert_eq!(std::mem::size_of::<ItfV4<Opaque>>(), end * PTR);
        assert_eq!(APPENDED.last().map(|a| a.0), Some(MAX_REVISION));
    }
}
