//! The v4 function table given to every v4 binding: the layout of
//! [`afb_binding_so::abi::ItfV4`] filled with the functions of the sibling
//! modules, member by member in the ABI's order.

use super::{api, data, data_itf, req, timer, ItfV4};
use crate::event;

/// The v4 function table given to every v4 binding.
pub(crate) static ITF: ItfV4 = ItfV4 {
    create_data_raw: data_itf::create_data_raw,
    create_data_alloc: data_itf::create_data_alloc,
    create_data_copy: data_itf::create_data_copy,
    data_addref: data_itf::data_addref,
    data_unref: data_itf::data_unref,
    data_get_mutable: data_itf::data_get_mutable,
    data_get_constant: data_itf::data_get_constant,
    data_update: data_itf::data_update,
    data_convert: data_itf::data_convert,
    data_type: data_itf::data_type,
    data_notify_changed: data_itf::data_notify_changed,
    data_is_volatile: data_itf::data_is_volatile,
    data_set_volatile: data_itf::data_set_volatile,
    data_set_not_volatile: data_itf::data_set_not_volatile,
    data_is_constant: data_itf::data_is_constant,
    data_set_constant: data_itf::data_set_constant,
    data_set_not_constant: data_itf::data_set_not_constant,
    data_lock_read: data_itf::data_lock_read,
    data_try_lock_read: data_itf::data_try_lock_read,
    data_lock_write: data_itf::data_lock_write,
    data_try_lock_write: data_itf::data_try_lock_write,
    data_unlock: data_itf::data_unlock,
    req_logmask: req::req_logmask,
    req_addref: req::req_addref,
    req_unref: req::req_unref,
    req_api: req::req_api,
    req_vcbdata: req::req_vcbdata,
    req_called_api: req::req_called_api,
    req_called_verb: req::req_called_verb,
    req_vverbose: req::req_vverbose,
    req_session_close: req::req_session_close,
    req_session_set_loa: req::req_session_set_loa,
    legacy_req_cookie: req::req_legacy_cookie,
    req_subscribe: req::req_subscribe,
    req_unsubscribe: req::req_unsubscribe,
    req_get_client_info: req::req_get_client_info,
    req_check_permission: req::req_check_permission,
    req_parameters: req::req_parameters,
    req_reply: req::req_reply,
    req_subcall: req::req_subcall,
    req_subcall_sync: req::req_subcall_sync,
    event_addref: event::event_addref,
    event_unref: event::event_unref,
    event_name: event::event_name,
    event_push: api::event_push,
    event_broadcast: api::event_broadcast,
    type_lookup: data_itf::type_lookup,
    type_register: data_itf::type_register,
    type_name: data_itf::type_name,
    type_set_family: data_itf::type_set_family,
    type_add_converter: data_itf::type_add_converter,
    type_add_updater: data_itf::type_add_updater,
    api_logmask: api::api_logmask,
    api_vverbose: api::api_vverbose,
    api_name: api::api_name,
    api_get_userdata: api::api_get_userdata,
    api_set_userdata: api::api_set_userdata,
    api_settings: api::api_settings,
    api_event_broadcast: api::api_event_broadcast,
    api_new_event: api::api_new_event,
    api_event_handler_add: api::api_event_handler_add,
    api_event_handler_del: api::api_event_handler_del,
    api_call: api::api_call,
    api_call_sync: api::api_call_sync,
    api_add_verb: api::api_add_verb,
    api_del_verb: api::api_del_verb,
    api_seal: api::api_seal,
    api_set_verbs: api::api_set_verbs,
    api_require_api: api::api_require_api,
    api_class_provide: api::api_class_provide,
    api_class_require: api::api_class_require,
    api_delete: api::api_delete,
    create_api: api::create_api,
    job_post: timer::job_post,
    alias_api: api::alias_api,
    setup_shared_object: api::setup_shared_object,
    type_opaque: &data::T_OPAQUE,
    type_stringz: &data::T_STRINGZ,
    type_json: &data::T_JSON,
    type_json_c: &data::T_JSON_C,
    type_bool: &data::T_BOOL,
    type_i32: &data::T_I32,
    type_u32: &data::T_U32,
    type_i64: &data::T_I64,
    type_u64: &data::T_U64,
    type_double: &data::T_DOUBLE,
    evfd_create: timer::evfd_create,
    evfd_addref: timer::evfd_addref,
    evfd_unref: timer::evfd_unref,
    evfd_get_fd: timer::evfd_get_fd,
    evfd_get_events: timer::evfd_get_events,
    evfd_set_events: timer::evfd_set_events,
    timer_create: timer::timer_create,
    timer_addref: timer::timer_addref,
    timer_unref: timer::timer_unref,
    req_session_get_loa: req::req_session_get_loa,
    data_dependency_add: data_itf::data_dependency_add,
    data_dependency_sub: data_itf::data_dependency_sub,
    data_dependency_drop_all: data_itf::data_dependency_drop_all,
    req_cookie_set: req::req_cookie_set,
    req_cookie_get: req::req_cookie_get,
    req_cookie_getinit: req::req_cookie_getinit,
    req_cookie_drop: req::req_cookie_drop,
    type_bytearray: &data::T_BYTEARRAY,
    req_param_convert: req::req_param_convert,
    req_interface_by_id: req::req_interface_by_id,
    req_interface_by_name: req::req_interface_by_name,
    req_get_userdata: req::req_get_userdata,
    req_set_userdata: req::req_set_userdata,
    job_abort: timer::job_abort,
    api_unshare_session: api::api_unshare_session,
    timer_modify_period: timer::timer_modify_period,
    type_uuid: &data::T_UUID,
    api_set_specification: api::api_set_specification,
};

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use afb_binding_so::abi::layout;

    use super::super::Binder;
    use super::ItfV4;

    /// Compiles a C program printing the offset of every member as our
    /// header (revision 9) lays it out, and compares with the table.
    #[test]
    fn the_header_lays_the_table_out_as_the_binder_fills_it() {
        let c_name = |n: &str| match n {
            "legacy_req_cookie" => "LEGACY_req_cookie".to_owned(),
            "req_session_set_loa" => "req_session_set_LOA".to_owned(),
            "req_session_get_loa" => "req_session_get_LOA".to_owned(),
            "type_uuid" => "type_UUID".to_owned(),
            other => other.to_owned(),
        };
        let fields = layout::<Binder>();
        let mut src = String::from(
            "#define AFB_BINDING_X4R1_ITF_REVISION 9\n#include <stdio.h>\n#include <afb/afb-binding-v4.h>\nint main(void) {\n",
        );
        for (n, _) in &fields {
            src.push_str(&format!(
                "printf(\"{n} %zu\\n\", offsetof(struct afb_binding_x4r1_itf, {}));\n",
                c_name(n)
            ));
        }
        src.push_str("printf(\"size %zu\\n\", sizeof(struct afb_binding_x4r1_itf));\nreturn 0; }\n");
        let dir = std::env::temp_dir().join(format!("afb-itf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, exe) = (dir.join("itf.c"), dir.join("itf"));
        std::fs::write(&c, src).unwrap();
        let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
        let status = Command::new("cc")
            .arg("-I")
            .arg(include)
            .arg(&c)
            .arg("-o")
            .arg(&exe)
            .status()
            .expect("a C compiler (cc) is needed for this test");
        assert!(status.success());
        let out = Command::new(&exe).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut lines = text.lines();
        for (n, off) in &fields {
            assert_eq!(lines.next(), Some(format!("{n} {off}").as_str()));
        }
        assert_eq!(
            lines.next(),
            Some(format!("size {}", std::mem::size_of::<ItfV4>()).as_str())
        );
    }
}
